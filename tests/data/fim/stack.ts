// A typed stack (a fixture of `codefill eval fim`).
export class Stack<T> {
  private items: T[] = [];

  push(item: T): number {
    this.items.push(item);
    return this.items.length;
  }

  pop(): T | undefined {
    if (this.items.length === 0) {
      return undefined;
    }
    return this.items.pop();
  }

  peek(): T | undefined {
    return this.items[this.items.length - 1];
  }
}

export function sum(stack: Stack<number>): number {
  let total = 0;
  let value = stack.pop();
  while (value !== undefined) {
    total += value;
    value = stack.pop();
  }
  return total;
}
