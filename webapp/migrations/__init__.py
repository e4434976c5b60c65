"""The CRUD database's Alembic migrations (webapp/schema.py runs them): env.py and versions/."""
