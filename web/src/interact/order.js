// The order of a live room's questions, as the server sorts them.

/**
 * The server's order.
 * @param {{id: number, votes: number, pinned: boolean, answered: boolean}} a
 * @param {{id: number, votes: number, pinned: boolean, answered: boolean}} b
 */
export function questionOrder(a, b) {
  return Number(b.pinned) - Number(a.pinned) || Number(a.answered) - Number(b.answered) || b.votes - a.votes || a.id - b.id
}
