"""Foundations every package uses: errors, migrations, versions, small system helpers.

Nothing here imports any other package of daert, so agents/, tools/, knowledge/, memory/ and
graphs/ depend on it and never on the app shell (daert/).
"""
