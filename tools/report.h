// tools/report.h: how subcommands print metrics: JSON fragments with the
// contract's key names ("recall@20", "ndcg@20", ...) and aligned tables.
// Thread-safety: single-threaded use.
#ifndef FB_TOOLS_REPORT_H
#define FB_TOOLS_REPORT_H

#include <stdio.h>

#include "fedbundle/model/metrics.h"

// Prints `"recall@K": v, "ndcg@K": v, "precision@K": v, "f1@K": v,
// "hit_rate@K": v` for every cut-off, comma-separated, no braces.
void report_metrics_json(FILE *fp, const struct fb_metrics *m);

// Prints a table row per cut-off: label, Recall, NDCG, Precision, F1, Hit.
void report_metrics_table(FILE *fp, const char *label,
		const struct fb_metrics *m, int header);

#endif
