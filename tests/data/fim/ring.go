// Package ring is a fixed-size ring buffer (a fixture of `codefill eval fim`).
package ring

import "errors"

// ErrEmpty is returned by Pop on an empty ring.
var ErrEmpty = errors.New("ring: empty")

type Ring struct {
	items []int
	start int
	size  int
}

func New(capacity int) *Ring {
	return &Ring{items: make([]int, capacity)}
}

func (r *Ring) Push(v int) {
	end := (r.start + r.size) % len(r.items)
	r.items[end] = v
	if r.size < len(r.items) {
		r.size++
	} else {
		r.start = (r.start + 1) % len(r.items)
	}
}

func (r *Ring) Pop() (int, error) {
	if r.size == 0 {
		return 0, ErrEmpty
	}
	v := r.items[r.start]
	r.start = (r.start + 1) % len(r.items)
	r.size--
	return v, nil
}
