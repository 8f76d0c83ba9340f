"""The spec: the YAML file's models, its loading with file:line errors, and its parameters.

Import from the submodules (``shipyard.spec.loader``, ``shipyard.spec.models``); this package
stays empty so that light commands (status, list) do not pay for the spec machinery.
"""
