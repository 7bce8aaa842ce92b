"""make check's test runner: pytest over tests/, then one last line `N passed, N failed`.

pytest's own summary omits the failed count when nothing failed and ends with the time; CI
reads the last line, so it is printed here in a fixed form.  Errors in set-up or tear-down
count as failures.  The exit status is pytest's."""
import pathlib
import sys

import pytest


class Counts:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    def pytest_runtest_logreport(self, report):
        if report.failed:
            self.failed += 1
        elif report.when == "call" and report.passed:
            self.passed += 1


def main():
    counts = Counts()
    tests = pathlib.Path(__file__).resolve().parent
    status = pytest.main(["-q", "-ra", str(tests), *sys.argv[1:]], plugins=[counts])
    print(f"{counts.passed} passed, {counts.failed} failed")
    return int(status)


if __name__ == "__main__":
    sys.exit(main())
