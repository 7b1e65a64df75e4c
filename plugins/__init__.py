"""tunebench's pytest plugin (installed as `tunebench_pytest`): hooks and fixtures over the library."""
