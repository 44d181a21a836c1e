/// Minimum-cost assignment of rows to columns (the Hungarian method with potentials, O(n²·m)),
/// for n rows ≤ m columns. Costs of `.infinity` mark forbidden pairs; a row whose only options are
/// forbidden is left unassigned.
enum Assignment {
    /// Returns, for each row, the column it gets (or nil).
    static func solve(costs: [[Double]]) -> [Int?] {
        guard let m = costs.first?.count else { return [] }
        return solve(flat: costs.flatMap { $0 }, rows: costs.count, columns: m)
    }

    /// The same on a row-major `rows × columns` matrix.
    static func solve(flat input: [Double], rows n: Int, columns m: Int) -> [Int?] {
        guard n > 0 else { return [] }
        guard m >= n else { preconditionFailure("Assignment.solve needs at least as many columns as rows") }
        // Forbidden pairs get a cost larger than any feasible total, so they are used only when a
        // row has no feasible column left; such rows are reported unassigned.
        var largest = 0.0
        for value in input where value.isFinite && value > largest { largest = value }
        let forbidden = (largest + 1) * Double(n + 1) + 1
        let costs = input.map { $0.isFinite ? $0 : forbidden }
        var u = [Double](repeating: 0, count: n + 1)
        var v = [Double](repeating: 0, count: m + 1)
        var p = [Int](repeating: 0, count: m + 1)  // p[j]: row (1-based) assigned to column j
        var way = [Int](repeating: 0, count: m + 1)
        var minv = [Double](repeating: 0, count: m + 1)
        var used = [Bool](repeating: false, count: m + 1)
        for i in 1...n {
            p[0] = i
            var j0 = 0
            for j in 0...m {
                minv[j] = .infinity
                used[j] = false
            }
            repeat {
                used[j0] = true
                let i0 = p[j0]
                var delta = Double.infinity
                var j1 = 0
                let rowStart = (i0 - 1) * m - 1
                let ui0 = u[i0]
                for j in 1...m where !used[j] {
                    let cost = costs[rowStart + j] - ui0 - v[j]
                    if cost < minv[j] {
                        minv[j] = cost
                        way[j] = j0
                    }
                    if minv[j] < delta {
                        delta = minv[j]
                        j1 = j
                    }
                }
                for j in 0...m {
                    if used[j] {
                        u[p[j]] += delta
                        v[j] -= delta
                    } else {
                        minv[j] -= delta
                    }
                }
                j0 = j1
            } while p[j0] != 0
            repeat {
                let j1 = way[j0]
                p[j0] = p[j1]
                j0 = j1
            } while j0 != 0
        }
        var result = [Int?](repeating: nil, count: n)
        for j in 1...m where p[j] != 0 {
            let row = p[j] - 1
            if input[row * m + j - 1].isFinite { result[row] = j - 1 }
        }
        return result
    }
}
