"""Transcript renderer benchmark: ours vs one-`multi_cell`-per-message, same process.

    python bench/transcript.py [--sizes 1000,10000] [--out DIR]

Prints messages, renderer, seconds, peak traced memory, pages and the speed ratio, then checks
with `pdftotext` that both PDFs contain the same message lines (ok / mismatch).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.services.transcripts.model import TranscriptContact, TranscriptData, TranscriptMessage
from bot.services.transcripts.naive import render_naive
from bot.services.transcripts.pdf import render_pdf
from bot.services.transcripts.sections import author_line

WORDS = {
    lang: text.split()
    for lang, text in (
        (
            "en",
            "the order was shipped yesterday and should arrive on Monday please check tracking "
            "number invoice refund account password delivery address thank you for waiting",
        ),
        (
            "ru",
            "заказ отправлен вчера и должен прийти в понедельник пожалуйста проверьте номер "
            "отслеживания счёт возврат спасибо за ожидание",
        ),
        (
            "el",
            "η παραγγελία στάλθηκε χθες και θα φτάσει τη Δευτέρα παρακαλώ ελέγξτε τον αριθμό "
            "ευχαριστούμε για την αναμονή",
        ),
    )
}


def synthetic(n: int, seed: int = 5) -> TranscriptData:
    rng = random.Random(seed)
    start = datetime(2025, 3, 14, 9, 0, tzinfo=UTC)
    people = [("maria", "Maria Ivanova"), ("alice", "Alice Agent"), ("nikos", "Νίκος Π.")]
    messages = []
    for i in range(n):
        lang = rng.choice(list(WORDS))
        length = rng.choice((3, 8, 15, 30, 60, 120))
        words = [rng.choice(WORDS[lang]) for _ in range(length)]
        if rng.random() < 0.08:
            words.insert(rng.randrange(len(words) + 1), long_url(rng))
        username, name = people[i % len(people)]
        messages.append(
            TranscriptMessage(
                ts=start + timedelta(seconds=37 * i),
                username=username,
                display_name=name,
                text=f"m{i} " + " ".join(words),
                edited=rng.random() < 0.03,
            )
        )
    return TranscriptData(
        number=42,
        room_name="maria-ivanova",
        site_name="Omnicat bench",
        contact=TranscriptContact("Maria Ivanova", "maria", "maria@example.org"),
        department="Sales",
        agents=("alice",),
        tags=("bench",),
        created_at=start,
        closed_at=messages[-1].ts if messages else start,
        timezone=3,
        messages=messages,
    )


def long_url(rng: random.Random) -> str:
    path = "/".join(f"segment{rng.randrange(10**6)}" for _ in range(8))
    return f"https://shop.example.org/{path}?session={'x' * rng.randrange(20, 90)}"


def measure(render: Callable[[TranscriptData], bytes], data: TranscriptData):
    """(pdf, seconds, peak RSS growth in bytes), measured in a fork of this process.

    tracemalloc would slow fpdf2 down several times (and unevenly), so memory is the peak
    resident size the fork reaches above what it inherited; both renderers start from the same
    state, so the numbers compare.
    """
    gc.collect()
    with tempfile.NamedTemporaryFile(suffix=".pdf") as out:
        read_fd, write_fd = os.pipe()
        pid = os.fork()
        if pid == 0:  # child
            code = 1
            try:
                os.close(read_fd)
                _reset_peak()
                base = _status_kb("VmRSS")
                t0 = time.perf_counter()
                pdf = render(data)
                seconds = time.perf_counter() - t0
                peak_kb = _status_kb("VmHWM")
                Path(out.name).write_bytes(pdf)
                os.write(write_fd, json.dumps([seconds, (peak_kb - base) * 1024]).encode())
                code = 0
            finally:
                os._exit(code)
        os.close(write_fd)
        with os.fdopen(read_fd, "rb") as pipe:
            raw = pipe.read()
        _, status = os.waitpid(pid, 0)
        if status != 0 or not raw:
            raise RuntimeError(f"renderer {render.__name__} failed in the child")
        seconds, peak = json.loads(raw)
        return Path(out.name).read_bytes(), seconds, peak


def _reset_peak() -> None:
    # Linux: "5" resets the peak RSS (VmHWM) the fork inherited from its parent.
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def _status_kb(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def pdf_text(pdf: bytes) -> str:
    with tempfile.NamedTemporaryFile(suffix=".pdf") as f:
        f.write(pdf)
        f.flush()
        return subprocess.run(
            ["pdftotext", "-enc", "UTF-8", f.name, "-"], capture_output=True, text=True, check=True
        ).stdout


def squash(text: str) -> str:
    # Line breaks fall in different places in the two renderers: compare without whitespace.
    return re.sub(r"\s+", "", text)


def same_messages(data: TranscriptData, pdf: bytes) -> bool:
    """Every message's author line and text appear, in order."""
    text = squash(pdf_text(pdf))
    pos = 0
    for msg in data.messages:
        for part in (author_line(data, msg), msg.text):
            found = text.find(squash(part), pos)
            if found < 0:
                return False
            pos = found
    return True


def page_count(pdf: bytes) -> int:
    return len(re.findall(rb"/Type\s*/Page\b", pdf))


def _warm_up() -> None:
    """Font discovery and imports happen once per process; keep them out of the timings."""
    render_pdf(synthetic(3))
    render_naive(synthetic(3))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="1000,10000")
    parser.add_argument("--out", help="keep the PDFs in this directory")
    args = parser.parse_args(argv)
    check = shutil.which("pdftotext") is not None
    _warm_up()
    print(f"{'messages':>8}  {'renderer':<8} {'seconds':>8} {'peak MB':>8} {'pages':>6}  text")
    failed = False
    for n in (int(s) for s in args.sizes.split(",")):
        data = synthetic(n)
        results = {}
        for name, fn in (("naive", render_naive), ("ours", render_pdf)):
            pdf, seconds, peak = measure(fn, data)
            ok = same_messages(data, pdf) if check else None
            failed |= ok is False
            results[name] = seconds
            verdict = {True: "ok", False: "mismatch", None: "(no pdftotext)"}[ok]
            print(
                f"{n:>8}  {name:<8} {seconds:>8.2f} {peak / 2**20:>8.1f} "
                f"{page_count(pdf):>6}  {verdict}"
            )
            if args.out:
                Path(args.out).mkdir(parents=True, exist_ok=True)
                Path(args.out, f"transcript-{n}-{name}.pdf").write_bytes(pdf)
        print(f"{n:>8}  ratio    {results['naive'] / results['ours']:>8.1f}x faster")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
