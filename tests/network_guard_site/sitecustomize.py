"""Installs tests/network_guard.py in every Python process the test session starts (PYTHONPATH leads here).

Only while a session's guard log is named in the environment; a child whose environment was rebuilt
without PYTHONPATH (or that runs Python with -S or -I) goes unguarded.
"""

import importlib.util
import os
import sys

if os.environ.get("TUNEBENCH_NETWORK_GUARD_LOG"):
    _path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "network_guard.py")
    _spec = importlib.util.spec_from_file_location("network_guard", _path)
    _guard = importlib.util.module_from_spec(_spec)
    sys.modules.setdefault("network_guard", _guard)
    _spec.loader.exec_module(_guard)
    _guard.install()
