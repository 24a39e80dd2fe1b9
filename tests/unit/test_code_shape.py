"""The collection's Python stays easy to change: no function over 80 lines or with a cyclomatic complexity over 25."""

from __future__ import annotations

import ast
import glob
import os

from radon.complexity import cc_visit

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MAX_LINES = 80
MAX_COMPLEXITY = 25


def sources():
    return sorted(glob.glob(os.path.join(ROOT, 'plugins', '**', '*.py'), recursive=True))


def test_no_function_is_longer_than_80_lines():
    long = []
    for path in sources():
        with open(path, encoding='utf-8') as fh:
            tree = ast.parse(fh.read())
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_LINES:
                    long.append('%s:%d %s (%d lines)' % (os.path.relpath(path, ROOT), node.lineno, node.name, lines))
    assert not long, long


def test_no_function_is_more_complex_than_25():
    complex_ = []
    for path in sources():
        with open(path, encoding='utf-8') as fh:
            for block in cc_visit(fh.read()):
                if block.complexity > MAX_COMPLEXITY:
                    complex_.append('%s:%d %s (%d)' % (os.path.relpath(path, ROOT), block.lineno, block.fullname,
                                                       block.complexity))
    assert sources() and not complex_, complex_
