// The paper's claims, one sentence each, judged from the comparisons against EELU: a claim is
// supported when the paired difference favours EELU at Holm-corrected p < 0.05,
// contradicted when it favours the other activation at that level, not shown otherwise.
#include <cmath>
#include <limits>
#include <sstream>

#include "experiment/report_parts.h"

namespace eelu::experiment::report {
namespace {

// A condition of EELU (another setting of it, e.g. an ablation's): not one of the "other
// activations" of the claims.
bool is_eelu(const std::string& condition) {
  return activation_name(condition.substr(0, condition.find(" ["))) == "eelu";
}

// A claim's verdict from its Holm-corrected p and the sign of EELU's advantage.
const char* verdict_of(double holm_p, double advantage) {
  const bool sig = !std::isnan(holm_p) && holm_p < 0.05;
  return sig && advantage > 0 ? "supported" : sig && advantage < 0 ? "contradicted" : "not shown";
}

// "EELU is more accurate than the other activations", at each training-set size.
void more_accurate(std::ostringstream& md, const Gathered& g, const Comparisons& comparisons,
                   const std::string& eelu_ref) {
  for (const std::string& size : g.sizes) {
    int sup = 0, con = 0, none = 0;
    std::string detail;
    for (const Comparison& c : comparisons.list) {
      if (c.reference != eelu_ref || c.size != size || is_eelu(c.condition)) continue;
      const double d = -c.paired.diff;  // EELU - other
      const std::string verdict = verdict_of(c.paired_holm, d);
      ++(verdict == "supported" ? sup : verdict == "contradicted" ? con : none);
      // what would change it: the interval, and the smallest difference the design detects
      detail += "  - over " + c.condition + ": EELU " + fmt("%+.2f", 100 * d) + " pp (Holm p " +
                pval(c.paired_holm) + "; 95% CI " + interval(c.paired, true) + ", detectable " +
                (std::isnan(c.mde_family) ? std::string("–") : fmt("%.2f", 100 * c.mde_family)) +
                " pp): " + verdict + "\n";
    }
    if (sup + con + none == 0) {
      md << "- *EELU is more accurate than the other activations* (" << g.size_label(size) << "): "
         << (g.has_runs(size, eelu_ref)
                 ? "no other activation here (the comparisons above are between settings of "
                   "EELU).\n"
                 : "no run of EELU has finished here yet.\n");
      continue;
    }
    md << "- *EELU is more accurate than the other activations* (" << g.size_label(size) << "): "
       << "supported by " << sup << ", contradicted by " << con << ", undecided in " << none
       << " of the comparisons.\n"
       << detail;
  }
}

// EELU's paired advantages over `cond` at `size`, by seed.
std::vector<double> advantages(const Gathered& g, const std::string& eelu_ref,
                               const std::string& cond, const std::string& size) {
  std::vector<double> adv;
  const auto e = g.cells.find({size, eelu_ref}), o = g.cells.find({size, cond});
  if (e == g.cells.end() || o == g.cells.end()) return adv;
  for (const auto& [seed, fb] : e->second) {
    const auto m = o->second.find(seed);
    if (m != o->second.end()) adv.push_back(fb.first - m->second.first);
  }
  return adv;
}

// "EELU's advantage is largest with few training samples": the smallest size against the
// largest, per competitor, by Welch's test of EELU's per-seed advantages at the two sizes,
// Holm-corrected over the competitors as the other claims are.
void largest_with_few_samples(std::ostringstream& md, const Gathered& g,
                              const std::string& eelu_ref) {
  const std::string small = g.sizes.front(), large = g.sizes.back();
  md << "- *EELU's advantage is largest with few training samples* (" << g.size_axis << " " << small
     << " against " << large << "), per competitor: EELU's mean paired advantage at "
     << "each size, how much larger it is at " << small << " with its 95% interval, "
     << "and Welch's test of the per-seed advantages between the two sizes, Holm-corrected "
     << "over the competitors:\n";
  struct Line {
    std::string cond;
    size_t n_small, n_large;
    double small_mean, large_mean;
    stats::TTest t;
  };
  std::vector<Line> lines;
  std::vector<double> ps;
  for (const std::string& cond : g.conditions) {
    if (is_eelu(cond)) continue;  // EELU's variants are the ablation's, not the claim's
    const auto a = advantages(g, eelu_ref, cond, small), b = advantages(g, eelu_ref, cond, large);
    if (a.empty() || b.empty()) continue;
    const auto t = stats::welch_t_test(a, b);
    lines.push_back(
        {cond, a.size(), b.size(), stats::summarize(a).mean, stats::summarize(b).mean, t});
    ps.push_back(t.valid ? t.p : std::numeric_limits<double>::quiet_NaN());
  }
  const std::vector<double> holm = stats::holm(ps);
  for (size_t i = 0; i < lines.size(); ++i) {
    const Line& l = lines[i];
    const char* verdict = l.t.valid ? verdict_of(holm[i], l.t.diff) : "not shown (too few seeds)";
    md << "  - over " << l.cond << ": " << fmt("%+.2f", 100 * l.small_mean) << " pp at " << small
       << " (" << l.n_small << " seeds), " << fmt("%+.2f", 100 * l.large_mean) << " pp at " << large
       << " (" << l.n_large << " seeds); larger at " << small << " by "
       << fmt("%+.2f", 100 * l.t.diff) << " pp " << interval(l.t) << " (Welch p " << pval(ps[i])
       << ", Holm p " << pval(holm[i]) << "): " << verdict << "\n";
  }
  if (lines.empty())
    md << "  - none yet: no competitor has runs paired with EELU's at both sizes.\n";
}

}  // namespace

std::string claims_section(const Gathered& g, const Comparisons& c) {
  std::ostringstream md;
  md << "## The paper's claims, as these runs see them\n\n";
  const auto& refs = c.references;
  const std::string eelu_ref =
      refs.size() == 2 ? refs[1] : (!refs.empty() && is_eelu(refs[0]) ? refs[0] : "");
  if (eelu_ref.empty()) {
    md << "No EELU activation in this grid: the claims are not tested here.\n\n";
    return md.str();
  }
  md << "A claim counts as **supported** when the paired difference favours EELU and its "
        "Holm-corrected p-value is below 0.05, **contradicted** when it favours the other "
        "activation at that level, and **not shown** otherwise (too few seeds or too small "
        "a difference to tell). Each line gives EELU's advantage with its 95% interval and "
        "the smallest advantage the design would detect with 80% power at Holm's strictest "
        "level: a *not shown* with a detectable difference far above the interval says the "
        "design is too small, not that the activations are equal.\n\n";
  more_accurate(md, g, c, eelu_ref);
  if (g.sizes.size() >= 2) largest_with_few_samples(md, g, eelu_ref);
  md << "- *EELU's noise makes the latent features more varied*: not measured by this report; "
        "see `eelu visualize` (docs/experiments.md).\n\n";
  return md.str();
}

}  // namespace eelu::experiment::report
