import ast, struct, sys
def load(p):
    b = open(p, 'rb').read()
    assert b[:8] == b'\x93NUMPY\x01\x00', b[:8]
    hl = struct.unpack('<H', b[8:10])[0]
    assert (10 + hl) % 64 == 0 and b[10 + hl - 1:10 + hl] == b'\n'
    h = ast.literal_eval(b[10:10 + hl].decode('latin1'))
    assert h['descr'] == '<f4' and h['fortran_order'] is False
    r, c = h['shape']
    assert len(b) == 10 + hl + 4 * r * c
    f = struct.unpack('<%df' % (r * c), b[10 + hl:])
    return [f[i * c:(i + 1) * c] for i in range(r)]
d = sys.argv[1]
u = load(d + '/user_reps.npy'); q = load(d + '/bundle_reps.npy')
s = [sum(a * b for a, b in zip(u[0], row)) for row in q]
top = sorted(range(len(s)), key=lambda b: -s[b])[:3]
print(' '.join('%d:%.4f' % (b, s[b]) for b in top))
