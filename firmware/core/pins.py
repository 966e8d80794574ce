#!/usr/bin/env python3
"""Does a suite case fail when a documented number of the reference firmware moves?

Moves each constant behind a number PROTOCOL.md documents ("The reference
firmware by the numbers") a little either way, runs the bundled suites on
the sim rig (`cargo test -p locker-hil --test suites`, snapshots forced to
pass, so only an expectation can fail), and says whether some case caught
it. cargo-mutants does not move constants; this does. Every file is put
back as it was, whatever happens.

    python3 firmware/core/pins.py      # about 4 minutes on 2 cores
"""
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CORE = "firmware/core/src"
# (file, the line's text as it stands, the values to try in its place)
MOVES = [
    ("controller.rs", "LOCKOUT_THRESHOLD: u8 = 5;", ["4", "6"]),
    ("controller.rs", "LOCKOUT_BASE_S: u32 = 30;", ["25", "35"]),
    ("controller.rs", "LOCKOUT_MAX_S: u32 = 3_600;", ["3_000", "4_000"]),
    ("controller.rs", "LOCKOUT_SAVE_MS: u64 = 5_000;", ["4_000", "6_000"]),
    ("controller.rs", "INTER_KEY_TIMEOUT_MS: u64 = 10_000;", ["9_000", "11_000"]),
    ("controller.rs", "MESSAGE_MS: u64 = 3_000;", ["2_500", "3_500"]),
    ("controller.rs", "MAX_ENTRY: usize = 12;", ["11", "13"]),
    ("controller.rs", "JAM_ATTEMPTS: u8 = 3;", ["2", "4"]),
    ("controller.rs", "RELIEF_MS: u64 = 500;", ["400", "600"]),
    ("controller.rs", "OPEN_WAIT_MS: u64 = 3_000;", ["2_500", "3_500"]),
    ("controller.rs", "SAMPLE_MS: u64 = 10_000;", ["8_000", "12_000"]),
    ("controller.rs", "TEMP_REPORT_DELTA: i32 = 50;", ["40", "60"]),
    ("controller.rs", "DIAG_PERIOD_MS: u64 = 3_600_000;", ["3_500_000", "3_700_000"]),
    ("controller.rs", "HELP_PRESSES: usize = 3;", ["2", "4"]),
    ("controller.rs", "HELP_WINDOW_MS: u64 = 30_000;", ["29_000", "31_000"]),
    ("controller.rs", "OPEN_WAIT_MS * 20", ["OPEN_WAIT_MS * 18", "OPEN_WAIT_MS * 22"]),
    ("temp.rs", "HEATER_ON_BELOW: i32 = 500;", ["450", "550"]),
    ("temp.rs", "HEATER_OFF_ABOVE: i32 = 800;", ["750", "850"]),
    ("temp.rs", "COLD_PULSE_BELOW: i32 = 0;", ["-50", "50"]),
    ("temp.rs", "PULSE_MS: u16 = 200;", ["180", "220"]),
    ("temp.rs", "COLD_PULSE_MS: u16 = 400;", ["380", "420"]),
    ("temp.rs", "COLD_REFUSE_BELOW: i32 = -2000;", ["-2050", "-1950"]),
    ("temp.rs", "COLD_RESUME_ABOVE: i32 = -1700;", ["-1750", "-1650"]),
    ("temp.rs", "HOT_REFUSE_ABOVE: i32 = 6000;", ["5950", "6050"]),
    ("temp.rs", "HOT_RESUME_BELOW: i32 = 5700;", ["5650", "5750"]),
    ("uplink.rs", "QUEUE_LEN: usize = 32;", ["31", "33"]),
    ("uplink.rs", "LINK_TIMEOUT_MS: u64 = 3_000;", ["2_500", "3_500"]),
    ("uplink.rs", "OFFLINE_RETRY_MS: u64 = 30_000;", ["25_000", "35_000"]),
    ("uplink.rs", "FAILBACK_PROBE_MS: u64 = 60_000;", ["50_000", "70_000"]),
    ("codes.rs", "VALID_WINDOWS: u64 = 3;", ["2", "4"]),
    ("codes.rs", "DRIFT_TOLERANCE_S: u64 = 300;", ["299", "301"]),
]


def moved(line: str, value: str) -> str:
    if "=" not in line:
        return value
    return re.sub(r"= [-0-9_]+;$", f"= {value};", line)


def main() -> int:
    env = {**os.environ, "INSTA_FORCE_PASS": "1"}
    survived = 0
    for name, line, values in MOVES:
        path = ROOT / CORE / name
        text = path.read_text()
        if text.count(line) != 1:
            print(f"{name}: `{line}` is not there once; update pins.py", file=sys.stderr)
            return 2
        try:
            for value in values:
                path.write_text(text.replace(line, moved(line, value)))
                run = subprocess.run(
                    ["cargo", "test", "-q", "-p", "locker-hil", "--test", "suites"],
                    cwd=ROOT, env=env, capture_output=True, text=True,
                )
                out = run.stdout + run.stderr
                if "could not compile" in out:
                    verdict = "does not build"
                elif run.returncode == 0:
                    verdict = "SURVIVED"
                    survived += 1
                else:
                    verdict = "caught"
                print(f"{verdict:14} {name}: {line} -> {moved(line, value)}", flush=True)
        finally:
            path.write_text(text)
    print(f"{survived} survived")
    return 1 if survived else 0


if __name__ == "__main__":
    sys.exit(main())
