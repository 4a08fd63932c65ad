#!/usr/bin/env bash
# Run the test suite, then the style check. Same as the course's autograder.
set -e
cd "$(dirname "$0")"
python -m pytest "$@"
python -m pycodestyle --max-line-length 120 .
