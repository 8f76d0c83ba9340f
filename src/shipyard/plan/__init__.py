"""The plan: pure resolution of a spec into ordered, ready-to-run units.

Import from the submodules; ``shipyard.plan.build`` pulls in the spec machinery (Pydantic), which
the model and the cache must not.
"""
