import VaporCSQLite

extension AtriumDatabase {
    /// Bytes SQLite has allocated in this process now (page caches of every connection, statements).
    public static var sqliteMemoryInUse: Int64 { sqlite_nio_sqlite3_memory_used() }
}
