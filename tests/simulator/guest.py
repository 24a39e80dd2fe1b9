"""What a simulated desktop's agent does with a command: a tiny, documented reading of the script text.

The simulator runs nothing. It reads the text line by line (``\\r\\n`` and ``\\n`` end a line) and understands
only these forms, case-insensitively, at the start of a line (leading blanks ignored):

* ``exit N`` / ``exit /b N``: the script ends with exit code N (an integer, may be negative);
* ``echo TEXT``, ``Write-Output TEXT``, ``Write-Host TEXT``: TEXT (the rest of the line, verbatim) is one line
  of output;
* ``Start-Sleep [-Seconds] N``, ``sleep N``, ``timeout /t N``: the script takes N more (simulated) seconds.

Every other line runs without output. A script that reaches its end exits 0. Each script takes
:data:`BASE_SECONDS` plus its sleeps. The text of the script is recorded exactly as it arrived, so that a test can
compare it with what was sent.
"""

from __future__ import annotations

import re

#: simulated seconds a script takes before its sleeps
BASE_SECONDS = 5.0

EXIT_RE = re.compile(r'^exit(?:\s+/b)?\s+(-?\d+)\s*$', re.I)
ECHO_RE = re.compile(r'^(?:echo|write-output|write-host)(?:\s(.*))?$', re.I | re.S)
SLEEP_RE = re.compile(r'^(?:start-sleep(?:\s+-seconds)?|sleep|timeout\s+/t)\s+(\d+)\b', re.I)


def run(script: str) -> tuple[int, str, float]:
    """``(exit code, output, seconds)`` of a script in the forms above."""
    output = []
    seconds = BASE_SECONDS
    for raw in script.replace('\r\n', '\n').split('\n'):
        line = raw.strip()
        m = EXIT_RE.match(line)
        if m:
            return int(m.group(1)), '\n'.join(output), seconds
        m = ECHO_RE.match(line)
        if m:
            output.append(m.group(1) or '')
            continue
        m = SLEEP_RE.match(line)
        if m:
            seconds += float(m.group(1))
    return 0, '\n'.join(output), seconds
