// client/bundles.h: `fedbundle-client complete` and `compose`: bundle
// completion and composition (docs/bundle-completion.md) on a retailer's
// node, from its own user factors, the federated model of its state and
// its public catalogue, scored by the very calls of `fedbundle complete`
// and `compose` (fedbundle/model/compose.h).
// Thread-safety: single-threaded use from the client's main path.
#ifndef FB_CLIENT_BUNDLES_H
#define FB_CLIENT_BUNDLES_H

#include <stdbool.h>
#include <stdint.h>

#include "policy.h"

// What the two commands are asked (parsed by client/main.c).
struct client_bundle_args {
	uint32_t user;        // dense local user id, unless user_id
	const char *user_id;  // an original customer id of users.map
	bool have_user;       // --user or --user-id was given
	const char *items;    // complete: the partial bundle (item ids)
	uint32_t k;           // complete: items wanted
	uint32_t size, count; // compose: items per bundle, bundles
	const char *allowed;  // compose: a file of allowed item ids
	double max_price;     // compose: cap on a bundle's price (0: none)
	bool json;
};

// Both return the process's exit status: 0, 2 for an argument error (a
// missing option, an unknown user, a bad item id), 1 for a failure (no
// trained state yet, unreadable files), with a message on stderr. Item
// ids are the retailer's own where the folder has items.map, else dense
// ids (fb_catdir_parse_items).
int client_complete(const struct node_policy *pol,
		const struct client_bundle_args *a);
int client_compose(const struct node_policy *pol,
		const struct client_bundle_args *a);

#endif
