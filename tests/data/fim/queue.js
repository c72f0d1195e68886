// A tiny FIFO queue (a fixture of `codefill eval fim`).
'use strict';

class Queue {
  constructor() {
    this.items = [];
    this.head = 0;
  }

  push(item) {
    this.items.push(item);
    return this.items.length - this.head;
  }

  shift() {
    if (this.head >= this.items.length) {
      return undefined;
    }
    const item = this.items[this.head];
    this.head += 1;
    return item;
  }
}

/**
 * Drain a queue into an array.
 */
function drain(queue) {
  const out = [];
  let item = queue.shift();
  while (item !== undefined) {
    out.push(item);
    item = queue.shift();
  }
  return out;
}

module.exports = { Queue, drain };
