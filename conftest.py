"""In-repo runs: register the tunebench plugin.

When tunebench is installed, pytest already loaded the plugin from its `pytest11` entry point, which is
named after the module, so this line finds it registered and loads nothing twice.
"""

pytest_plugins = ["tunebench_pytest.plugin"]
