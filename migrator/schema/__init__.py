"""Schema introspection, comparison and schema files.

- :mod:`~migrator.schema.model`: the schema as comparable values (pure);
- :mod:`~migrator.schema.introspect`: read it from the catalog (asyncpg);
- :mod:`~migrator.schema.diff`: what differs, as readable lines (pure);
- :mod:`~migrator.schema.dump`: the normalised schema file (``migrate schema dump``);
- :mod:`~migrator.schema.verify`: compare a database with a schema file.
"""
