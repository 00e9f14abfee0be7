"""The database: plain SQL migrations and the queries the activities and operators use."""
