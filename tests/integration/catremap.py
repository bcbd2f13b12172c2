# tests/integration/catremap.py OLD NEW: compares two `fedbundle export`
# folders of the aggregator's checkpoint, before and after a new catalogue
# version was adopted (test-fed-catversion.sh). For items, bundles and
# attrs, matched by the original ids of items.txt etc., prints one line
# "KIND kept=K new=N retired=R same=S zero_new=Z": S of the K kept rows
# are equal bit for bit, Z of the N new rows are all zeros.
import struct
import sys


def load(path):
    b = open(path, 'rb').read()
    assert b[:8] == b'\x93NUMPY\x01\x00', path
    hl = struct.unpack('<H', b[8:10])[0]
    header = b[10:10 + hl].decode('latin1')
    shape = header.split("'shape': (")[1].split(')')[0]
    r, c = (int(x) for x in shape.split(',')[:2])
    data = b[10 + hl:]
    assert len(data) == 4 * r * c, path
    return [data[4 * c * i:4 * c * (i + 1)] for i in range(r)]


def rows(folder, kind):
    try:
        ids = open('%s/%s.txt' % (folder, kind)).read().split('\n')[:-1]
        mat = load('%s/%s.npy' % (folder, kind))
    except FileNotFoundError:
        return {}
    assert len(ids) == len(mat), kind
    return dict(zip(ids, mat))


old_dir, new_dir = sys.argv[1], sys.argv[2]
for kind in ('items', 'bundles', 'attrs'):
    old, new = rows(old_dir, kind), rows(new_dir, kind)
    kept = [k for k in new if k in old]
    added = [k for k in new if k not in old]
    same = sum(old[k] == new[k] for k in kept)
    zero = sum(new[k] == bytes(len(new[k])) for k in added)
    print('%s kept=%d new=%d retired=%d same=%d zero_new=%d' % (
        kind, len(kept), len(added), len(old) - len(kept), same, zero))
