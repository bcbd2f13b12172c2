// tools/report.c: metric printing shared by train, eval and recommend.
#include "report.h"

void
report_metrics_json(FILE *fp, const struct fb_metrics *m)
{
	for (uint32_t j = 0; j < m->n_k; j++) {
		unsigned k = m->k[j];
		fprintf(fp,
				"%s\"recall@%u\": %.6f, \"ndcg@%u\": %.6f, "
				"\"precision@%u\": %.6f, \"f1@%u\": %.6f, "
				"\"hit_rate@%u\": %.6f",
				j > 0 ? ", " : "", k, m->recall[j], k,
				m->ndcg[j], k, m->precision[j], k, m->f1[j], k,
				m->hit_rate[j]);
	}
}

void
report_metrics_table(FILE *fp, const char *label, const struct fb_metrics *m,
		int header)
{
	if (header) {
		fprintf(fp, "%-24s %5s %9s %9s %9s %9s %9s\n", "", "K",
				"Recall", "NDCG", "Precision", "F1", "HitRate");
	}
	for (uint32_t j = 0; j < m->n_k; j++) {
		fprintf(fp, "%-24s %5u %9.4f %9.4f %9.4f %9.4f %9.4f\n",
				j == 0 ? label : "", m->k[j], m->recall[j],
				m->ndcg[j], m->precision[j], m->f1[j],
				m->hit_rate[j]);
	}
}
