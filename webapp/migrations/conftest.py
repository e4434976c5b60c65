# env.py runs only inside Alembic (its `context` exists then): keep pytest's doctest collection
# from importing it. The revisions import cleanly and are collected.
collect_ignore = ["env.py"]
