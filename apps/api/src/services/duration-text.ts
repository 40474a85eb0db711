/** Milliseconds as seconds in messages for people: whole when whole ("6"), else to the tenth ("1.5"). */
export const secondsText = (ms: number): string => (ms % 1000 === 0 ? String(ms / 1000) : (ms / 1000).toFixed(1));
