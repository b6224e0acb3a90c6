"""specs/ as data: the requirement catalogue, the status taxonomy, the OpenAPI snapshot and the evidence list.

`python -m tools.spec --help` lists the commands that render and check them.
"""
