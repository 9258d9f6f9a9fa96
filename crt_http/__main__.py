"""``python -m crt_http URL``: the ``crt-http`` command."""

import sys

from crt_http.cli import main

sys.exit(main())
