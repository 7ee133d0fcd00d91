"""How long until a standby serves when the active instance dies or freezes? (issue 11)

    .venv/bin/python bench/failover.py                       # 5 SIGKILLs + 3 SIGSTOPs, 6 s lease
    .venv/bin/python bench/failover.py --kills 10 --stops 5 --lease-ttl 4 --heartbeat 1
    .venv/bin/python bench/failover.py --store postgresql://user:pw@127.0.0.1:5432/postgres

Two `omnicat run` instances (real subprocesses) on one PostgreSQL, the storm test's scripted
desk (8 agents, 20 contacts) working against the dev server, and the scenario of
`tests/reliability/failover.py`: each round the active instance is SIGKILLed (then started
again as the standby) or frozen with SIGSTOP (and woken after the takeover). The takeover time
runs from the signal to the other instance's `/healthz` saying it serves (active, connected to
the server, caught up). It is bounded by `lease_ttl` (the dead lease must expire in the
database's clock) + the standby's poll (≤ 1 s) + the login and catch-up. Without `--store` a
throwaway PostgreSQL is started with the installed `initdb` (fsync on, like a real server).

Each run also checks what the failover test checks (every line answered, store, rooms and
events agree); the exit status is 1 if anything was lost.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from pg import PgCluster, PgServer, find_bindir
from reliability import failover


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=5)
    parser.add_argument("--stops", type=int, default=3)
    parser.add_argument("--lease-ttl", type=int, default=6, help="seconds (the default config)")
    parser.add_argument("--heartbeat", type=int, default=2, help="seconds")
    parser.add_argument("--store", default=None, help="a PostgreSQL server URL (default: own)")
    args = parser.parse_args(argv)
    cluster = None
    if args.store is None:
        bindir = find_bindir()
        if bindir is None:
            raise SystemExit("needs initdb (apt-get install postgresql) or --store URL")
        cluster = PgCluster(bindir, durable=True).start()
    server = PgServer(args.store or cluster.url)  # type: ignore[union-attr]
    results: list[failover.Outcome] = []
    ok = True
    try:
        for mode, rounds in (("kill", args.kills), ("stop", args.stops)):
            if rounds <= 0:
                continue
            url = server.fresh_database()
            with tempfile.TemporaryDirectory(prefix=f"omnicat-failover-{mode}-") as tmp:
                out = failover.run(
                    Path(tmp),
                    url,
                    mode=mode,
                    rounds=rounds,
                    lease_ttl=args.lease_ttl,
                    heartbeat=args.heartbeat,
                    hold_close=max(12, 3 * args.lease_ttl),
                )
            server.drop(url)
            results.append(out)
            assert out.said is not None and out.found is not None
            ok = ok and not (out.said.unanswered or out.said.failed or out.found.problems)
    finally:
        if cluster is not None:
            cluster.stop()

    print(
        f"\nfailover: 2 instances on one PostgreSQL, lease_ttl {args.lease_ttl} s, heartbeat "
        f"{args.heartbeat} s, storm desk (8 agents, 20 contacts) under load"
    )
    header = (
        f"{'signal':<10}{'rounds':>7}{'p50 s':>8}{'max s':>8}{'lines':>7}{'once':>7}"
        f"{'repeat':>8}{'lost':>6}{'problems':>10}"
    )
    print(header)
    print("-" * len(header))
    for out in results:
        assert out.said is not None and out.found is not None
        name = "SIGKILL" if out.mode == "kill" else "SIGSTOP"
        print(
            f"{name:<10}{len(out.takeovers):>7}{failover.percentile(out.takeovers, 0.5):>8.1f}"
            f"{max(out.takeovers):>8.1f}{out.said.lines:>7}{out.said.answered_once:>7}"
            f"{len(out.said.doubled):>8}{len(out.said.unanswered):>6}"
            f"{len(out.found.problems):>10}"
        )
    for out in results:
        if out.stepped_down:
            print(
                "SIGSTOP: woken ex-leaders stood by again (fenced) after "
                + ", ".join(f"{s:.1f}" for s in out.stepped_down)
                + " s"
            )
    print(
        "repeat = a reply sent again by the new instance for a message the old one had answered "
        "but not yet marked processed when it died (replays reuse the first ids since issue 20)"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
