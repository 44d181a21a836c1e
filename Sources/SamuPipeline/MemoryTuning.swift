#if canImport(Glibc)
    import CMalloc
#endif

/// glibc's allocator, set for a worker's pattern: each batch's write encodes a few megabytes into
/// one buffer (rows of 500 reports) and frees it a moment later. By default glibc raises its mmap
/// threshold each time such a buffer is freed, so the next ones come from the heap and their pages
/// stay with the process (a catch-up of 40,000 reports peaked 15 MB higher once two batches' rows
/// were encoded at once). A fixed threshold keeps buffers of 256 KB and more in mappings of their
/// own, returned when freed.
enum MemoryTuning {
    static let applied: Bool = {
        #if canImport(Glibc)
            return mallopt(M_MMAP_THRESHOLD, 256 * 1024) == 1
        #else
            return false
        #endif
    }()
}
