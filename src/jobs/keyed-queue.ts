// One thing at a time per key: the scheduler's work for one machine, the appends to one job's log.
// Work under different keys runs concurrently; work under one key runs in call order, each piece
// starting when the one before it settled (a failure does not stop the queue).

export class KeyedQueue {
  private readonly tails = new Map<string, Promise<unknown>>();

  run<T>(key: string, work: () => Promise<T>): Promise<T> {
    const before = this.tails.get(key) ?? Promise.resolve();
    const result = before.then(work, work);
    const tail = result.then(
      () => {},
      () => {},
    );
    this.tails.set(key, tail);
    // The map holds only keys with work pending: the last piece removes its key.
    void tail.then(() => {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    });
    return result;
  }

  /** Settles when everything queued so far has settled. */
  async idle(): Promise<void> {
    while (this.tails.size > 0) await Promise.all([...this.tails.values()]);
  }
}
