"""Full-text quality and speed on the eight arXiv PDFs of ../shared/data/arxiv/pdf.

    python -m benchmarks.pdf_text [--dir ../shared/data/arxiv/pdf]

For each paper: pages, pages read as two columns, body paragraphs, mean words per
paragraph, sections, references kept apart, and seconds; then the same-run baseline,
PDFium's plain page text (``get_text_range``, content-stream order), with the artefacts
a reader meets there and not in ours: TeX line-end hyphens left in words, lines that are
only a number (page numbers, stray superscripts) and arXiv's margin stamp.
"""

from __future__ import annotations

import argparse
import re
import time
from pathlib import Path

import pypdfium2 as pdfium

from gateway.arxiv.pdf import extract

DEFAULT = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "arxiv" / "pdf"


def baseline(path: Path) -> tuple[str, float]:
    t0 = time.perf_counter()
    pdf = pdfium.PdfDocument(str(path))
    text = "\n".join(p.get_textpage().get_text_range() for p in pdf)
    pdf.close()
    return text, time.perf_counter() - t0


def artefacts(text: str) -> dict[str, int]:
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    lines = text.splitlines()
    return {
        "hyphens": text.count("\x02")
        + text.count("\ufffe")
        + len(re.findall(r"[a-z]-\n[a-z]", text)),
        "digit_lines": sum(1 for ln in lines if re.fullmatch(r"\s*\d{1,3}\s*", ln)),
        "stamps": len(re.findall(r"arXiv:\d{4}\.\d{4,5}v\d+ \[", text)),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dir", type=Path, default=DEFAULT)
    args = ap.parse_args()
    files = sorted(args.dir.glob("*.pdf"))
    if not files:
        raise SystemExit(f"no PDFs in {args.dir}")
    print(
        f"{'paper':<14}{'pages':>6}{'2-col':>6}{'paras':>7}{'words/p':>8}"
        f"{'sects':>6}{'refs':>6}{'s':>7}"
    )
    total_ours = total_base = 0.0
    ours_art = {"hyphens": 0, "digit_lines": 0, "stamps": 0}
    base_art = dict(ours_art)
    for f in files:
        t0 = time.perf_counter()
        d = extract(f)
        s = time.perf_counter() - t0
        total_ours += s
        words = sum(len(p.text.split()) for p in d.paragraphs) / max(len(d.paragraphs), 1)
        two = sum(1 for n in d.columns.values() if n == 2)
        print(
            f"{f.stem:<14}{d.pages:>6}{two:>6}{len(d.paragraphs):>7}{words:>8.0f}"
            f"{len(d.sections):>6}{len(d.references):>6}{s:>7.2f}"
        )
        body = "\n".join(p.text for p in d.paragraphs)
        for k, v in artefacts(body).items():
            ours_art[k] += v
        text, b = baseline(f)
        total_base += b
        for k, v in artefacts(text).items():
            base_art[k] += v
    print(
        f"\ntime: ours {total_ours:.1f} s, baseline plain text {total_base:.1f} s "
        f"({total_ours / max(total_base, 1e-9):.1f}x the baseline)"
    )
    print("artefacts in body text (ours vs baseline):")
    for k in ours_art:
        print(f"  {k:<13} {ours_art[k]:>6} vs {base_art[k]:>6}")


if __name__ == "__main__":
    main()
