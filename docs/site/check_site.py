"""Check that the built documentation site has its pages and the capability matrix."""

from __future__ import annotations

import os
import sys
from html.parser import HTMLParser


class Tables(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.cells: list[str] = []
        self._in_cell = False

    def handle_starttag(self, tag, attrs):
        if tag in ('td', 'th'):
            self._in_cell = True
            self.cells.append('')

    def handle_endtag(self, tag):
        if tag in ('td', 'th'):
            self._in_cell = False

    def handle_data(self, data):
        if self._in_cell:
            self.cells[-1] += data


def main(html_dir: str) -> int:
    pages = ['index.html', 'desktop_maintenance_module.html', 'desktop_pool_power_module.html',
             'session_message_module.html', 'patch_window_role.html', 'desktops_inventory.html',
             'docsite/capability_matrix.html', 'docsite/patch_window_guide.html', 'docsite/troubleshooting.html',
             'docsite/getting_started_horizon.html', 'docsite/getting_started_huaweicloud.html',
             'docsite/getting_started_alicloud.html', 'desktop_image_module.html', 'desktop_command_module.html',
             'docsite/patching_by_image.html', 'docsite/patching_through_agent.html']
    missing = [p for p in pages if not os.path.isfile(os.path.join(html_dir, p))]
    if missing:
        print('missing pages: %s' % ', '.join(missing))
        return 1
    parser = Tables()
    with open(os.path.join(html_dir, 'docsite/capability_matrix.html'), encoding='utf-8') as fh:
        parser.feed(fh.read())
    cells = [c.strip() for c in parser.cells]
    for needed in ('Omnissa Horizon', 'Huawei Cloud Workspace', 'Alibaba Cloud EDS', 'Maintenance on/off', 'hibernated',
                   'Image rollout to a pool', 'In-guest command'):
        if needed not in cells:
            print('capability matrix lacks %r' % needed)
            return 1
    print('docs site OK: %d pages checked, capability matrix has %d cells' % (len(pages), len(cells)))
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1]))
