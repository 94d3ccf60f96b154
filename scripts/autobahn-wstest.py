#!/usr/bin/env python
"""Runs wstest with its listening sockets bound to 127.0.0.1.

wstest's fuzzing server listens on every interface and offers no option to
change that. This wrapper, run by the Python of the virtualenv that
scripts/autobahn-setup.sh made, binds the WebSocket port to the loopback
interface instead and otherwise behaves exactly like wstest:

    target/autobahn/venv/bin/python scripts/autobahn-wstest.py -m fuzzingserver -s SPEC -u 0

Pass `-u 0` in server modes: the embedded web server (default port 8080) is
not used and is not redirected.
"""
import sys

import autobahntestsuite.fuzzing as fuzzing
from autobahntestsuite.wstest import run

_listen_ws = fuzzing.listenWS


def listen_on_loopback(factory, contextFactory=None, backlog=50, interface=''):
    return _listen_ws(factory, contextFactory, backlog, interface or '127.0.0.1')


fuzzing.listenWS = listen_on_loopback

if __name__ == '__main__':
    sys.argv[0] = 'wstest'
    sys.exit(run())
