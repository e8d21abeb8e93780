/// Tasks waiting for a global slot (`max_concurrent_tasks`), first in first out. Taking the next
/// one costs O(1) however long the queue is (a run of 10,000 tasks queues most of them); the
/// space of taken entries is reclaimed once it is half the storage.
struct SlotQueue<Element> {
    private var storage: [Element] = []
    private var head = 0

    var isEmpty: Bool { head == storage.count }
    var count: Int { storage.count - head }

    mutating func append(_ element: Element) { storage.append(element) }

    /// The oldest entry, removed; nil when empty.
    mutating func popFirst() -> Element? {
        guard head < storage.count else { return nil }
        let first = storage[head]
        head += 1
        if head == storage.count {
            storage.removeAll(keepingCapacity: true)
            head = 0
        } else if head > 1024 && head * 2 > storage.count {
            storage.removeFirst(head)
            head = 0
        }
        return first
    }

    /// Drops every entry `shouldRemove` says (a run that ended), keeping the order of the rest.
    mutating func removeAll(where shouldRemove: (Element) -> Bool) {
        storage = storage[head...].filter { !shouldRemove($0) }
        head = 0
    }
}
