"""Render the leaderboard: README.md tables between markers, and a self-contained index.html.

`render_leaderboard(folder)` reads every submission in FOLDER/submissions/ (validated as `qnntraps
leaderboard verify` reads them; an invalid file stops the render with its error) and the
verification report beside each (<stem>.verification.json). An entry counts as verified when its
report pins the submission's exact bytes (sha256); it is ranked on its verified held-out score.
Entries without a verified held-out score are listed after the ranked ones, unranked, with their
self-reported public score. Per track, one table per suite (scores of different suites are not
comparable, so each suite ranks its own entries): rank, entry, score with its 95% interval, what
the score is (held-out verified or public self-reported), the public score, the hit rate per
family of the suite (public instances, variants pooled), the median over instances of the time
to solution at 99% (equivalent evaluations, a tuned entry's trials counted), verification status
and date.

FOLDER/README.md keeps everything outside the markers ``<!-- leaderboard:TRACK:begin -->`` and
``<!-- leaderboard:TRACK:end -->``; FOLDER/index.html is rewritten whole, with its figures
(hit rate against p per family with the references 2^-p and q^p, and the solve profiles)
embedded as PNG, so the page needs nothing but itself.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from qnntraps.atomic import write_text_atomic
from qnntraps.certificates.reference_rates import reference_rates
from qnntraps.harness.metrics import time_to_solution
from qnntraps.harness.plots import hit_rate_figure, reference_curves, solve_profiles_figure
from qnntraps.ids import parse_instance_id
from qnntraps.leaderboard.submission import Submission, SubmissionError, load_submission
from qnntraps.leaderboard.verify import REPORT_FORMAT, default_report_path
from qnntraps.registry import load
from qnntraps.suites.score import budget_grid, solve_probability

TRACKS = ("exact", "gpu", "hardware")
#: Families whose local minima are the 2^p vertices, so that the random-vertex rate 2^-p is a
#: reference for their hit rate (the circuit families have no such reference).
VERTEX_FAMILIES = ("construction", "construction-coupled", "separable")
SUBMISSIONS = "submissions"
README = "README.md"
PAGE = "index.html"


@dataclass(frozen=True)
class Row:
    """One entry as the tables show it."""

    submission: Submission
    verified: bool
    held_out_score: tuple[float, float, float] | None  # value, low, high
    drop_flagged: bool

    @property
    def public_score(self) -> tuple[float, float, float]:
        score = self.submission.document["claims"]["score"]
        return score["value"], score["interval"][0], score["interval"][1]

    @property
    def ranked(self) -> bool:
        return self.verified and self.held_out_score is not None

    @property
    def score(self) -> tuple[float, float, float]:
        return self.held_out_score if self.ranked else self.public_score

    def family_rate(self, family: str) -> tuple[int, int] | None:
        hits = n = 0
        for claim in self.submission.claims:
            if parse_instance_id(claim.instance).family == family:
                hits, n = hits + claim.hits, n + claim.n
        return (hits, n) if n else None

    def median_tts(self) -> float:
        trials = self.submission.trials
        values = [
            time_to_solution(c.hits / c.n, max(c.equivalent_evals / c.n, 1.0) * trials)
            for c in self.submission.claims
        ]
        return float(np.median(values))


@dataclass(frozen=True)
class Rendered:
    readme: Path
    page: Path
    rows: dict[str, tuple[Row, ...]]  # track -> rows in table order


def read_rows(folder: str | Path) -> dict[str, tuple[Row, ...]]:
    """Every submission under FOLDER/submissions, with its verification, per track, ordered."""
    folder = Path(folder)
    directory = folder / SUBMISSIONS
    if not directory.is_dir():
        raise SubmissionError(
            f"{directory} does not exist: a leaderboard folder holds submissions/ (see "
            "docs/submitting.md)"
        )
    rows: dict[str, list[Row]] = {track: [] for track in TRACKS}
    names = set()
    for path in sorted(directory.glob("*.json")):
        if path.name.endswith(".verification.json"):
            continue
        submission = load_submission(path)
        entry = submission.document["entry"]
        if entry in names:
            raise SubmissionError(f"{path}: entry name {entry!r} is used by another submission")
        names.add(entry)
        rows[submission.document["track"]].append(_row(submission))
    return {track: tuple(sorted(found, key=_order)) for track, found in rows.items()}


def _row(submission: Submission) -> Row:
    path = default_report_path(submission.path)
    if not path.is_file():
        return Row(submission, False, None, False)
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise SubmissionError(f"{path}: not a verification report ({error})") from None
    verified = (
        isinstance(report, dict)
        and report.get("format") == REPORT_FORMAT
        and report.get("verdict") == "verified"
        and (report.get("submission") or {}).get("sha256") == submission.sha256
    )
    held = report.get("held_out") if verified else None
    if not held:
        return Row(submission, verified, None, False)
    try:
        score = held["score"]
        values = (float(score["value"]), float(score["interval"][0]), float(score["interval"][1]))
        flagged = bool(held["drop_test"]["drop_flagged"])
    except (KeyError, IndexError, TypeError, ValueError) as error:
        raise SubmissionError(
            f"{path}: not a qnntraps-verification/1 report (held_out: {error!r}); verify again"
        ) from None
    return Row(submission, True, values, flagged)


def _order(row: Row):
    return (not row.ranked, -row.score[0], row.submission.document["entry"])


def render_leaderboard(folder: str | Path) -> Rendered:
    """Rewrite FOLDER/README.md's tables and FOLDER/index.html from the submissions."""
    folder = Path(folder)
    rows = read_rows(folder)
    readme = folder / README
    text = readme.read_text(encoding="utf-8") if readme.exists() else _readme_skeleton()
    for track in TRACKS:
        text = _replace_between(text, track, markdown_table(rows[track], track))
    page = render_page(rows)
    write_text_atomic(readme, text)
    write_text_atomic(folder / PAGE, page)
    return Rendered(readme, folder / PAGE, rows)


# --- markdown -------------------------------------------------------------------------------------
def _begin(track: str) -> str:
    return f"<!-- leaderboard:{track}:begin -->"


def _end(track: str) -> str:
    return f"<!-- leaderboard:{track}:end -->"


def _readme_skeleton() -> str:
    parts = ["# Leaderboard\n", "Regenerated by `qnntraps leaderboard render`.\n"]
    for track in TRACKS:
        parts.append(f"## The {track} track\n\n{_begin(track)}\n{_end(track)}\n")
    return "\n".join(parts)


def _replace_between(text: str, track: str, table: str) -> str:
    begin, end = _begin(track), _end(track)
    if text.count(begin) != 1 or text.count(end) != 1 or text.index(begin) > text.index(end):
        if begin in text or end in text:
            raise SubmissionError(
                f"{README}: the markers of the {track} track are damaged; restore one "
                f"{begin} followed by one {end}"
            )
        return text.rstrip("\n") + f"\n\n## The {track} track\n\n{begin}\n{table}\n{end}\n"
    head, rest = text.split(begin, 1)
    _, tail = rest.split(end, 1)
    return f"{head}{begin}\n{table}\n{end}{tail}"


def _rate(pair) -> str:
    return "–" if pair is None else f"{pair[0] / pair[1]:.3f}"


def _tts(value: float) -> str:
    return "∞" if math.isinf(value) else f"{value:.3g}"


def _score_text(score) -> str:
    return f"{score[0]:.4f} [{score[1]:.4f}, {score[2]:.4f}]"


def suite_families(rows: tuple[Row, ...]) -> tuple[str, ...]:
    """The families of the suite these rows were scored on, in the order its entries name them."""
    entries = rows[0].submission.suite.entries
    return tuple(dict.fromkeys(parse_instance_id(e.instance).family for e in entries))


def by_suite(rows: tuple[Row, ...]) -> dict[str, tuple[Row, ...]]:
    """The rows of a track grouped by suite ID (sorted), each group in table order."""
    groups: dict[str, list[Row]] = {}
    for row in rows:
        groups.setdefault(row.submission.suite.id, []).append(row)
    return {suite: tuple(groups[suite]) for suite in sorted(groups)}


def table_cells(row: Row, rank: int | None, families: tuple[str, ...]) -> list[str]:
    """The cells of one row, shared by the Markdown and the HTML tables."""
    document = row.submission.document
    optimizer = document["optimizer"]
    tuning = document["tuning"]
    return [
        "–" if rank is None else str(rank),
        document["entry"],
        f"{optimizer['name']} ({optimizer['kind']})"
        + ("" if tuning["rule"] == "fixed" else f", tuned: {tuning['trials']} trials"),
        _score_text(row.score),
        ("held-out" if row.ranked else "public") + (" (drop flagged)" if row.drop_flagged else ""),
        _score_text(row.public_score),
        *(_rate(row.family_rate(family)) for family in families),
        _tts(row.median_tts()),
        "verified" if row.verified else "self-reported",
        document["date"],
    ]


def headers(families: tuple[str, ...]) -> list[str]:
    return [
        "rank", "entry", "optimizer", "score [95%]", "ranked on", "public score",
        *(f"hit rate: {family}" for family in families), "median TTS99", "status", "date",
    ]  # fmt: skip


def _numbered(rows: tuple[Row, ...]):
    rank = 0
    for row in rows:
        if row.ranked:
            rank += 1
            yield row, rank
        else:
            yield row, None


def markdown_table(rows: tuple[Row, ...], track: str) -> str:
    if not rows:
        return f"No entries on the {track} track yet."
    blocks = []
    for suite, group in by_suite(rows).items():
        families = suite_families(group)
        names = headers(families)
        lines = [
            f"**Suite {suite}**",
            "",
            "| " + " | ".join(names) + " |",
            "|" + "---|" * len(names),
        ]
        for row, rank in _numbered(group):
            cells = [cell.replace("|", "\\|") for cell in table_cells(row, rank, families)]
            lines.append("| " + " | ".join(cells) + " |")
        blocks.append("\n".join(lines))
    blocks.append(
        "Each suite ranks its own entries, on the verified held-out score (fresh instances "
        "generated at verification); unranked entries show their self-reported public score. "
        "Hit rates are public, variants pooled; TTS99 in equivalent evaluations "
        "(docs/scoring.md, docs/submitting.md)."
    )
    return "\n\n".join(blocks)


# --- the page -------------------------------------------------------------------------------------
def _legend_below(figure):
    """With many entries a legend inside the axes hides points: put it under them."""
    figure.set_size_inches(6.4, 5.6)
    ax = figure.axes[0]
    handles, labels = ax.get_legend_handles_labels()
    ax.legend(handles, labels, fontsize="small", loc="upper center", ncol=3,
              bbox_to_anchor=(0.5, -0.16), frameon=False)  # fmt: skip
    figure.tight_layout()
    return figure


def _png(figure) -> str:
    figure = _legend_below(figure)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def hit_rate_figures(rows: tuple[Row, ...]) -> dict[str, object]:
    """Per family of the rows' suite: one series per entry (public hits pooled over variants at
    each p)."""
    figures = {}
    for family in suite_families(rows):
        series: dict[str, list[tuple[int, int, int]]] = {}
        sizes = set()
        for row in rows:
            pooled: dict[int, list[int]] = {}
            for claim in row.submission.claims:
                parsed = parse_instance_id(claim.instance)
                if parsed.family == family:
                    counts = pooled.setdefault(parsed.p, [0, 0])
                    counts[0] += claim.hits
                    counts[1] += claim.n
            if pooled:
                series[row.submission.document["entry"]] = [
                    (p, hits, n) for p, (hits, n) in sorted(pooled.items())
                ]
                sizes.update(pooled)
        if not series:
            continue
        flow = {}
        if family == "construction":
            for p in sorted(sizes):
                rates = reference_rates(load(f"construction-p{p}-v1"))
                if rates.gradient_flow is not None:
                    flow[p] = rates.gradient_flow
        references = reference_curves(flow, "gradient flow on construction")
        if family not in VERTEX_FAMILIES:
            references = {}
        figures[family] = hit_rate_figure(series, f"{family}: hit rate against p", references)
    return figures


def profile_figure(rows: tuple[Row, ...]):
    """Mean over an entry's instances of P(hit within b), the curve whose area is its score."""
    curves = {}
    for row in rows:
        suite = row.submission.suite
        budgets = budget_grid(suite.budget_range)
        claims = row.submission.claims
        rates = np.array([c.hits / c.n for c in claims])
        costs = np.array([c.equivalent_evals / c.n for c in claims]) * row.submission.trials
        curves[row.submission.document["entry"]] = (
            budgets,
            solve_probability(rates, costs, budgets).mean(axis=0),
        )
    return solve_profiles_figure(curves, "performance profile (public instances)")


_STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem auto;
       max-width: 1200px; color: #1d2330; background: #fbfbfd; line-height: 1.45; }
h1 { font-size: 1.9rem; margin-bottom: 0.2rem; } h2 { margin-top: 2.4rem; }
p.lead { color: #4a5263; margin-top: 0; }
div.table { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; font-size: 0.85rem; background: white;
        box-shadow: 0 1px 3px rgba(0,0,0,0.08); }
small { color: #6b7280; }
th, td { padding: 0.45rem 0.6rem; border-bottom: 1px solid #e4e6ec; text-align: left; }
th { background: #eef1f7; font-weight: 600; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.date { white-space: nowrap; }
tr.unranked td { color: #6b7280; }
span.badge { padding: 0.1rem 0.45rem; border-radius: 0.6rem; font-size: 0.8rem; }
span.verified { background: #dcf5e3; color: #116b34; }
span.self-reported { background: #fdf0d5; color: #8a5a00; }
.figures { display: flex; flex-wrap: wrap; gap: 1rem; margin-top: 1rem; }
figure { margin: 0; background: white; padding: 0.5rem; box-shadow: 0 1px 3px rgba(0,0,0,0.08); }
figure img { width: 520px; height: auto; display: block; }
figcaption { font-size: 0.85rem; color: #4a5263; max-width: 520px; }
footer { margin-top: 3rem; font-size: 0.8rem; color: #6b7280; }
"""

_READY = """
window.addEventListener("load", function () {
  document.body.dataset.images = Array.from(document.images)
    .map(function (image) { return image.naturalWidth; }).join(",");
});
"""


def hit_rate_caption(family: str) -> str:
    """What the hit-rate figure of `family` draws: the references only where they apply."""
    text = f"Hit rate against p on {html.escape(family)} (public instances, 95% intervals)"
    if family in VERTEX_FAMILIES:
        text += ", with the random-vertex rate 2<sup>−p</sup>"
    if family == "construction":
        text += " and the exact gradient-flow rate q<sup>p</sup>"
    return text + "."


def _suite_section(track: str, suite: str, found: tuple[Row, ...]) -> list[str]:
    """One suite's table and figures on the page; ids carry the track and the suite."""
    families = suite_families(found)
    tag = f"{track}-{suite}"
    parts = [f'<h3 id="suite-{tag}">Suite {html.escape(suite)}</h3>']
    parts.append(f'<div class="table"><table id="table-{tag}"><thead><tr>')
    parts.extend(f"<th>{html.escape(h)}</th>" for h in headers(families))
    parts.append("</tr></thead><tbody>")
    numeric = {0, *range(6, 7 + len(families))}  # the rank, the hit rates and the TTS
    for row, rank in _numbered(found):
        cells = table_cells(row, rank, families)
        status = cells[-2]
        css = "ranked" if row.ranked else "unranked"
        parts.append(f'<tr class="{css}" data-entry="{html.escape(cells[1])}">')
        for index, cell in enumerate(cells):
            if index == len(cells) - 2:
                parts.append(f'<td><span class="badge {status}">{html.escape(cell)}</span></td>')
            elif index in (3, 5):  # a score: the value, its interval under it
                value, interval = cell.split(" ", 1)
                parts.append(
                    f'<td class="num"><b>{value}</b><br><small>{html.escape(interval)}</small></td>'
                )
            else:
                klass = ' class="num"' if index in numeric else ""
                if index == len(cells) - 1:
                    klass = ' class="date"'
                parts.append(f"<td{klass}>{html.escape(cell)}</td>")
        parts.append("</tr>")
    parts.append("</tbody></table></div>")
    parts.append('<div class="figures">')
    for family, figure in hit_rate_figures(found).items():
        parts.append(
            f'<figure><img id="hit-rate-{tag}-{family}" alt="hit rate against p, {family}" '
            f'src="data:image/png;base64,{_png(figure)}"><figcaption>{hit_rate_caption(family)}'
            "</figcaption></figure>"
        )
    parts.append(
        f'<figure><img id="profile-{tag}" alt="performance profile" '
        f'src="data:image/png;base64,{_png(profile_figure(found))}"><figcaption>Probability '
        "of at least one hit within a total budget b, restarting independently, averaged "
        "over the suite's instances; the score is the area under this curve on the log "
        "axis.</figcaption></figure>"
    )
    parts.append("</div>")
    return parts


def render_page(rows: dict[str, tuple[Row, ...]]) -> str:
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        "<title>qnntraps leaderboard</title>",
        f"<style>{_STYLE}</style><script>{_READY}</script></head><body>",
        "<h1>qnntraps leaderboard</h1>",
        '<p class="lead">Optimizers scored by how often, and how cheaply, they reach the '
        "certified global minimum of quantum-neural-network training instances. Entries are "
        "re-run sealed by the maintainers and ranked on held-out instances generated at "
        "verification time.</p>",
    ]
    for track in TRACKS:
        if not rows[track]:
            continue
        parts.append(f'<h2 id="{track}">The {track} track</h2>')
        for suite, found in by_suite(rows[track]).items():
            parts.extend(_suite_section(track, suite, found))
    parts.append(
        "<footer>Generated by <code>qnntraps leaderboard render</code> from "
        "leaderboard/submissions/. How to submit: docs/submitting.md.</footer>"
    )
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
