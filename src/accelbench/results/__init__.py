"""Result records (versioned schema), the SQLite store, and export/import."""
