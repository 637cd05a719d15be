"""``scansr survey make`` / ``scansr survey score``: a blind expert survey of upscaling methods."""

from __future__ import annotations

import argparse
import secrets

from scansr.cli._common import add_force, new_report, print_json


def _raters(text: str) -> int | list[str]:
    if text.isdigit():
        return int(text)
    return [t.strip() for t in text.split(",") if t.strip()]


def _make(args: argparse.Namespace) -> int:
    from scansr.methods import resolve_methods
    from scansr.survey import make_survey

    if len(args.lr) != len(args.hr):
        raise ValueError(f"give one --hr per --lr: got {len(args.lr)} LR and {len(args.hr)} HR files")
    seed = args.seed if args.seed is not None else secrets.randbelow(2**31)
    key = make_survey(
        list(zip(args.lr, args.hr, strict=True)),
        resolve_methods(args.methods),
        args.out,
        seed=seed,
        dpi=args.dpi,
        raters=args.raters,
        channel=args.channel,
        overwrite=args.force,
    )
    print(
        f"{len(key.sheets)} sheets in {args.out} (seed {seed}); key {key.path}: keep it away from the raters"
    )
    return 0


def _score(args: argparse.Namespace) -> int:
    from scansr.survey import add_survey_section, score_survey

    score = score_survey(args.key, args.answers)
    if args.json:
        print_json(
            {
                "raters": list(score.raters),
                "methods": score.table(),
                "ranking": {"fidelity": list(score.fidelity.ranking), "quality": list(score.quality.ranking)},
            }
        )
    else:
        print(f"{len(score.raters)} raters, {len(score.key.sheets)} sheets, {len(score.methods)} methods")
        print(f"  {'method':<20} {'fidelity':>16} {'quality':>16}")
        for row in score.table():
            print(
                f"  {row['method']:<20} {row['fidelity mean']:>8.2f} ± {row['fidelity std']:<5.2f} "
                f"{row['quality mean']:>8.2f} ± {row['quality std']:<5.2f}"
            )
        for result in (score.fidelity, score.quality):
            friedman = result.friedman_raters
            p = f"Friedman p = {friedman.pvalue:.3g} (raters as blocks)" if friedman is not None else ""
            print(f"  {result.criterion}: {' > '.join(result.ranking)}  {p}")
    if args.report:
        report = new_report("Blind expert survey")
        add_survey_section(report, score)
        print(f"wrote {report.save(args.report, force=args.force)}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add this module's commands to the ``scansr`` parser."""
    survey = sub.add_parser("survey", help="blind expert survey: make the sheets, score the answers")
    commands = survey.add_subparsers(dest="survey_command", metavar="SURVEY_COMMAND", required=True)

    p = commands.add_parser("make", help="make the survey sheets, the key and blank answer sheets")
    p.add_argument("--lr", nargs="+", required=True, help="low-resolution scans")
    p.add_argument(
        "--hr", nargs="+", required=True, help="high-resolution scans of the same areas (ground truth)"
    )
    p.add_argument(
        "--methods",
        nargs="+",
        required=True,
        help="bicubic, bilinear, lanczos, 'default' (the shipped model) or model folders",
    )
    p.add_argument("--out", required=True, help="survey folder to create")
    p.add_argument("--seed", type=int, help="shuffling seed (default: random, printed)")
    p.add_argument("--dpi", type=int, default=1000, help="resolution of the sheet PNGs (default 1000)")
    p.add_argument("--raters", type=_raters, default=3, help="number of raters or their names (A,B,C)")
    p.add_argument("--channel", help="channel to show (default: topography)")
    add_force(p)
    p.set_defaults(func=_make)

    p = commands.add_parser("score", help="check and unblind the answers, statistics and agreement")
    p.add_argument("--key", required=True, help="the survey's key file (survey-key.json)")
    p.add_argument("--answers", nargs="+", required=True, help="answer CSV files, one per rater")
    p.add_argument("--report", help="write an HTML report")
    p.add_argument("--json", action="store_true", help="print JSON")
    add_force(p)
    p.set_defaults(func=_score)
