from __future__ import annotations

from alembic import context

from kibitz.db.search import not_search_object
from kibitz.db.tables import metadata

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
    include_name=not_search_object,
)
with context.begin_transaction():
    context.run_migrations()
