// client/secround.h: a client's round of secure aggregation
// (protocols/secagg-v1.md §3), as a sequence of request/reply stages in
// wire-v1's polling model:
//   SA_ADVERT  -> SA_PEERS (or PLAN WAIT: the same bytes again later)
//   SA_SHARES  -> SA_INBOX (or PLAN WAIT)
//   the ONE release (ledger entry fsync'd first), its noise share, masked
//   UPDATE     -> ACK (through the upload slot and pending-resend flow)
//   POLL UNMASK -> SA_UNMASK_REQ (or PLAN WAIT); its sets checked and
//   signed: SA_CONSISTENCY -> SA_SIGNATURES (or PLAN WAIT); t signatures
//   over exactly those sets verified (secagg-v1 §3.5): SA_UNMASK -> ACK
// Each stage keeps the bytes it sends, so a lost reply or session is
// answered by sending the same bytes again once a new session is up
// (the aggregator answers an identical resend as the first). Any ACK
// late or rejected ends the round; a peer bundle that does not open, or
// a list this client cannot take, is a REFUSE with reason
// secagg-refused; an unmask request its guard refuses, or signatures
// that fail the consistency check, a sealed ERROR secagg-refused. The round counts as completed then, or at the ACK of
// its SA_UNMASK. Logs round ids, counts, sizes, seconds and the two
// epsilons (assumed, alone), never a key or a share.
// Thread-safety: the client's one thread.
#ifndef FB_CLIENT_SECROUND_H
#define FB_CLIENT_SECROUND_H

#include "fedbundle/net/wire.h"
#include "fedbundle/util/err.h"
#include "local.h"
#include "node.h"

struct node_secround;

// Starts the secure round of plan (its config has_secagg) for round:
// checks it and the budget (node_local_secure_prepare), creates the
// round's keys and its advertisement. On success either res->refuse is
// set (answer REFUSE as for any plan) or n->sr holds the round, which
// node_step then drives. plan's tensors are read during the call only.
fb_err node_secround_begin(struct node *n, const struct fb_wire_plan *plan,
		uint32_t round, struct node_round *res);

// One request of the secure round n->sr (a session must be up); clears
// n->sr once the round is over. NODE_STEP_FATAL if the ledger or the
// state cannot be written.
enum node_step node_secround_step(struct node *n, struct node_conn *c);

// Wipes and frees sr; NULL is a no-op.
void node_secround_destroy(struct node_secround *sr);

#endif
