"""Run the VDI API simulator: Horizon, Huawei Cloud Workspace and Alibaba EDS, each on its own port.

Example::

    python tests/simulator/serve.py --port 0 --fleet 60 --ready-file /tmp/sim.json

Once every provider listens, the ready file holds ``ca_path`` and, per provider,
the connection values under the modules' option names. SIGTERM or SIGINT stops it.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading

if __package__ in (None, ''):
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from core import PROVIDERS, Simulator  # pylint: disable=import-error
else:
    from .core import PROVIDERS, Simulator


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--host', default='127.0.0.1')
    p.add_argument('--port', type=int, default=0,
                   help='first port (providers use PORT, PORT+1, PORT+2); 0 picks free ports')
    p.add_argument('--providers', default=','.join(PROVIDERS),
                   help='comma-separated subset of: %s' % ', '.join(PROVIDERS))
    p.add_argument('--fleet', type=int, default=30, help='desktops per provider')
    p.add_argument('--pools', type=int, default=None, help='pools per provider (default: 3 to 10 by fleet size)')
    p.add_argument('--seed', type=int, default=1)
    p.add_argument('--time-scale', type=float, default=1.0,
                   help='simulated seconds per real second (jobs, power changes, token expiry)')
    p.add_argument('--faults', default='',
                   help="fault spec, e.g. 'throttle:0.1,5xx:0.05,drop:0.02,latency:50-500,perid:0.02' or JSON rules")
    p.add_argument('--horizon-version', default='2512', help='Horizon server release (YYMM), e.g. 2406 or 2512')
    p.add_argument('--token-lifetime', type=float, default=1800.0,
                   help='Horizon access token lifetime in simulated seconds')
    p.add_argument('--rate-limit', type=float, default=None,
                   help='requests per second per provider before throttling (default: no limit)')
    p.add_argument('--no-tls', action='store_true', help='serve plain HTTP')
    p.add_argument('--state-dir', default=None, help='where the generated CA is written')
    p.add_argument('--ready-file', default=None, help='write connection details here once listening')
    p.add_argument('--lifetime', type=float, default=None,
                   help='stop by itself after this many seconds (a safety net for scenarios that may not stop it)')
    p.add_argument('--verbose', action='store_true')
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    names = [n.strip() for n in args.providers.split(',') if n.strip()]
    unknown = [n for n in names if n not in PROVIDERS]
    if unknown:
        print('unknown provider(s): %s' % ', '.join(unknown), file=sys.stderr)
        return 2
    sim = Simulator(providers=names, fleet=args.fleet, seed=args.seed, time_scale=args.time_scale,
                    tls=not args.no_tls, host=args.host, port=args.port, faults=args.faults,
                    horizon_version=args.horizon_version, token_lifetime=args.token_lifetime,
                    state_dir=args.state_dir, rate_limit=args.rate_limit, verbose=args.verbose, pools=args.pools)
    info = sim.start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    text = json.dumps(info, indent=2, sort_keys=True)
    if args.ready_file:
        tmp = args.ready_file + '.tmp'
        with open(tmp, 'w', encoding='utf-8') as fh:
            fh.write(text)
        os.replace(tmp, args.ready_file)
    print(text, flush=True)
    stop.wait(args.lifetime)
    sim.stop()
    return 0


if __name__ == '__main__':
    sys.exit(main())
