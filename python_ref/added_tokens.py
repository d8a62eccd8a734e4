"""python_ref added tokens: the model's added tokens found in raw text, as HF `tokenizers` finds them.

Upstream splits the raw text around its added tokens (normalized=false) with an Aho-Corasick
automaton in leftmost-longest mode: the match that starts first wins, the longest of those, and the
search goes on after it. This is that automaton over code points (a trie of the tokens, each state's
failure link to its longest proper suffix that is also a trie prefix, and the longest token ending
there), so finding every token costs time linear in the text whatever the number of tokens.
`find` is lazy: it reads only as far as it must to be sure of the leftmost-longest match.
Written by hand because python_ref is stdlib only (it runs in Pyodide); pyahocorasick has no
leftmost-longest mode. Leaves out: the normalized / lstrip / rstrip / single_word flags (the spec
refuses them). cython_ext walks the same automaton through `flat()`; cpp_port/tokenizer.cpp builds
its own over UTF-8 bytes.
"""
from __future__ import annotations

import re
from typing import Iterator


class AddedTokens:
    def __init__(self, tokens: dict[str, int]):
        """tokens: content -> id. Empty contents are ignored, as upstream ignores them."""
        self.tokens = {t: i for t, i in tokens.items() if t}
        goto: list[dict[str, int]] = [{}]
        depth, out_len, out_id = [0], [0], [-1]
        for tok, tid in self.tokens.items():
            s = 0
            for ch in tok:
                nxt = goto[s].get(ch)
                if nxt is None:
                    nxt = goto[s][ch] = len(goto)
                    goto.append({})
                    depth.append(depth[s] + 1)
                    out_len.append(0)
                    out_id.append(-1)
                s = nxt
            out_len[s], out_id[s] = len(tok), tid
        fail = [0] * len(goto)
        order = list(goto[0].values())      # breadth first: a state's failure link is done before its children's
        for s in order:
            for ch, t in goto[s].items():
                f = fail[s]
                while f and ch not in goto[f]:
                    f = fail[f]
                fail[t] = goto[f].get(ch, 0)
                if not out_len[t]:          # the longest token that is a suffix of this state
                    out_len[t], out_id[t] = out_len[fail[t]], out_id[fail[t]]
                order.append(t)
        self.goto, self.fail, self.depth, self.out_len, self.out_id = goto, fail, depth, out_len, out_id
        # Where a match can start: at the root the search skips to the next such character in C speed.
        self.first = re.compile("[" + "".join(re.escape(c) for c in sorted(goto[0])) + "]") if goto[0] else None

    def __bool__(self) -> bool:
        return bool(self.tokens)

    def find(self, text: str, pos: int = 0) -> tuple[int, int, int] | None:
        """The leftmost-longest token at or after `pos`: (start, end, id), or None."""
        goto, fail, depth, out_len = self.goto, self.fail, self.depth, self.out_len
        best, s, i, n = None, 0, pos, len(text)
        while i < n:
            if s == 0:
                if best is not None:
                    break
                m = self.first.search(text, i) if self.first else None
                if m is None:
                    break
                i = m.start()
            ch = text[i]
            while s and ch not in goto[s]:
                s = fail[s]
            s = goto[s].get(ch, 0)
            i += 1
            if out_len[s] and (best is None or i - out_len[s] < best[0]
                               or (i - out_len[s] == best[0] and i > best[1])):
                best = (i - out_len[s], i, self.out_id[s])
            if best is not None and i - depth[s] > best[0]:   # every match still open starts after best's
                break
        return best

    def finditer(self, text: str) -> Iterator[tuple[int, int, int]]:
        """Every token upstream splits out of `text`, left to right: (start, end, id)."""
        pos = 0
        while (m := self.find(text, pos)) is not None:
            yield m
            pos = m[1]

    def flat(self) -> dict[str, list[int]]:
        """The automaton as flat int lists for a C walk (cython_ext): per state its edges
        edge_cp[first[s]:first[s] + count[s]] (sorted) -> edge_to, and fail, depth, out_len, out_id."""
        first, count, edge_cp, edge_to = [], [], [], []
        for g in self.goto:
            first.append(len(edge_cp))
            count.append(len(g))
            for ch, t in sorted(g.items()):
                edge_cp.append(ord(ch))
                edge_to.append(t)
        return dict(first=first, count=count, edge_cp=edge_cp, edge_to=edge_to, fail=self.fail, depth=self.depth,
                    out_len=self.out_len, out_id=self.out_id)
