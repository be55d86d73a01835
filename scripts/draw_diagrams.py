"""Draw the book's four diagrams as SVG files in book/figures/: `python scripts/draw_diagrams.py`.

The two towers and the N x N matrix (chapter 4), the ModifiedResNet with its attention pool and the ViT's patches
(chapter 3), and the demo's search (chapter 8). Plain SVG written by hand-placed shapes, so the files are small,
diff well and need nothing to render; the SVGs are committed, and this script is how to change them.
"""

from pathlib import Path

FIGURES = Path(__file__).resolve().parents[1] / "book" / "figures"

FONT = 'font-family="DejaVu Sans, Helvetica, Arial, sans-serif"'
HEAD = ('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" width="{w}" height="{h}" {font} '
        'font-size="13">\n'
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
        'orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#444"/></marker></defs>\n'
        '<rect width="{w}" height="{h}" fill="white"/>\n')

def box(x, y, w, h, text, fill="#e8f0fb", stroke="#3b6fb6", size=13, sub=None):
    s = f'<rect x="{x}" y="{y}" width="{w}" height="{h}" rx="6" fill="{fill}" stroke="{stroke}" stroke-width="1.5"/>\n'
    ty = y + h / 2 + (size / 3 if sub is None else -2)
    s += f'<text x="{x + w / 2}" y="{ty}" text-anchor="middle" font-size="{size}">{text}</text>\n'
    if sub:
        s += (f'<text x="{x + w / 2}" y="{y + h / 2 + 14}" text-anchor="middle" font-size="11" '
              f'fill="#555">{sub}</text>\n')
    return s

def arrow(x1, y1, x2, y2):
    return (f'<line x1="{x1}" y1="{y1}" x2="{x2}" y2="{y2}" stroke="#444" stroke-width="1.5" '
            'marker-end="url(#arrow)"/>\n')

def text(x, y, t, size=13, anchor="middle", fill="#222", weight="normal"):
    return (f'<text x="{x}" y="{y}" text-anchor="{anchor}" font-size="{size}" fill="{fill}" '
            f'font-weight="{weight}">{t}</text>\n')

def write(name, w, h, body):
    (FIGURES / name).write_text(HEAD.format(w=w, h=h, font=FONT) + body + "</svg>\n")


def draw_two_towers():
    """two towers and the N x N matrix."""
    def sub(a, i):
        return f'{a}<tspan baseline-shift="sub" font-size="9">{i}</tspan>'
    b = ""
    b += text(20, 28, "N images", anchor="start", weight="bold")
    b += text(20, 228, "N captions", anchor="start", weight="bold")
    for k in range(3):
        b += f'<rect x="{20 + k * 8}" y="{45 + k * 8}" width="60" height="60" fill="#cfd8dc" stroke="#607d8b"/>\n'
    b += box(20, 245, 120, 44, '"a red sneaker"', fill="#fff8e1", stroke="#c29100", size=12)
    b += arrow(100, 90, 160, 90) + arrow(140, 267, 160, 267)
    b += box(160, 62, 150, 56, "image encoder", sub="ModifiedResNet or ViT")
    b += box(160, 239, 150, 56, "text encoder", sub="Transformer", fill="#fff3e0", stroke="#e08a00")
    b += arrow(310, 90, 340, 90) + arrow(310, 267, 340, 267)
    b += box(340, 68, 90, 44, "W_i, then", sub="L2-normalise")
    b += box(340, 245, 90, 44, "W_t, then", sub="L2-normalise", fill="#fff3e0", stroke="#e08a00")
    b += arrow(430, 90, 460, 90) + arrow(430, 267, 460, 267)
    b += text(500, 86, sub("I", 1) + " … " + sub("I", "N"), size=13) + text(500, 103, "(N, D)", size=11, fill="#555")
    b += text(500, 263, sub("T", 1) + " … " + sub("T", "N"), size=13) + text(500, 280, "(N, D)", size=11, fill="#555")
    n, cell, x0, y0 = 6, 26, 600, 62
    b += arrow(540, 90, x0 - 30, y0 + 60)  # images index the rows
    b += arrow(540, 262, x0 + 40, y0 + n * cell + 6)  # captions index the columns
    for i in range(n):
        b += text(x0 - 8, y0 + i * cell + 17, sub("I", i + 1), size=11, anchor="end")
        b += text(x0 + i * cell + cell / 2, y0 - 8, sub("T", i + 1), size=11)
        for j in range(n):
            fill = "#2e7d32" if i == j else "#eceff1"
            b += (f'<rect x="{x0 + j * cell}" y="{y0 + i * cell}" width="{cell - 2}" height="{cell - 2}" '
                  f'fill="{fill}"/>\n')
    lx = x0 + n * cell + 18
    sup = '<tspan baseline-shift="super" font-size="9">t</tspan>'
    b += text(lx, y0 + 30, f"logits = e{sup} ⟨{sub('I', 'i')}, {sub('T', 'j')}⟩", size=12, anchor="start")
    b += text(lx, y0 + 48, "an N × N matrix", size=11, anchor="start", fill="#555")
    b += text(lx, y0 + 80, "cross-entropy along", size=11, anchor="start", fill="#555")
    b += text(lx, y0 + 95, "every row and column:", size=11, anchor="start", fill="#555")
    b += text(lx, y0 + 110, "the diagonal (own", size=11, anchor="start", fill="#555")
    b += text(lx, y0 + 125, "pairs) is the target", size=11, anchor="start", fill="#555")
    write("two_towers.svg", 930, 320, b)


def draw_modified_resnet():
    """ModifiedResNet with its attention pool."""
    b = text(20, 24, "ModifiedResNet (RN50 sizes, 224 × 224 input)", anchor="start", weight="bold")
    stages = [("stem", "3 convs, avg pool", "56×56×64"), ("layer1", "3 blocks", "56×56×256"),
              ("layer2", "4 blocks, ↓2", "28×28×512"), ("layer3", "6 blocks, ↓2", "14×14×1024"),
              ("layer4", "3 blocks, ↓2", "7×7×2048")]
    x = 20
    for k, (name, sub, shape) in enumerate(stages):
        b += box(x, 44, 118, 52, name, sub=sub)
        b += text(x + 59, 114, shape, size=11, fill="#555")
        if k < len(stages) - 1:
            b += arrow(x + 118, 70, x + 132, 70)
        x += 132
    b += text(20, 148, "strided blocks average-pool before their last convolution (anti-aliasing)", anchor="start",
              size=11, fill="#555")
    # attention pool
    b += text(20, 190, "attention pool (replaces the global average pool)", anchor="start", weight="bold")
    gx, gy, gc = 40, 210, 16
    for i in range(7):
        for j in range(7):
            b += f'<rect x="{gx + j * gc}" y="{gy + i * gc}" width="{gc - 2}" height="{gc - 2}" fill="#bbdefb"/>\n'
    b += text(gx + 3.5 * gc, gy + 7 * gc + 18, "49 positions + mean", size=11, fill="#555")
    b += arrow(gx + 7 * gc + 10, gy + 56, 190, gy + 56)
    b += box(190, gy + 8, 180, 40, "mean token → query", fill="#e8f5e9", stroke="#2e7d32", size=12)
    b += box(190, gy + 62, 180, 40, "all 50 tokens → keys, values", fill="#e8f5e9", stroke="#2e7d32", size=12)
    b += arrow(370, gy + 28, 395, gy + 50) + arrow(370, gy + 82, 395, gy + 60)
    b += box(395, gy + 28, 165, 52, "multi-head attention", sub="tokens + positions", fill="#e8f5e9",
             stroke="#2e7d32")
    b += arrow(560, gy + 54, 590, gy + 54)
    b += box(590, gy + 32, 80, 44, "c_proj", fill="#e8f5e9", stroke="#2e7d32")
    b += arrow(670, gy + 54, 700, gy + 54)
    b += text(735, gy + 50, "image", size=12) + text(735, gy + 66, "embedding", size=12)
    write("modified_resnet.svg", 790, 350, b)


def draw_vit_patches():
    """ViT: patches as tokens."""
    b = text(20, 24, "Vision Transformer (ViT-B/32: 224 × 224 image, 32 × 32 patches)", anchor="start", weight="bold")
    px, py, pc = 30, 50, 30
    for i in range(4):
        for j in range(4):
            shade = ["#90caf9", "#a5d6a7", "#ffe082", "#ef9a9a"][(i + j) % 4]
            b += f'<rect x="{px + j * pc}" y="{py + i * pc}" width="{pc - 3}" height="{pc - 3}" fill="{shade}"/>\n'
    b += text(px + 2 * pc, py + 4 * pc + 20, "7 × 7 = 49 patches", size=11, fill="#555")
    b += text(px + 2 * pc, py + 4 * pc + 35, "(4 × 4 drawn)", size=11, fill="#555")
    b += arrow(px + 4 * pc + 10, py + 60, 200, py + 60)
    b += box(200, py + 34, 150, 52, "conv1 = linear", sub="on each flat patch")
    b += arrow(350, py + 60, 380, py + 60)
    tx = 380
    b += f'<rect x="{tx}" y="{py + 44}" width="24" height="32" rx="3" fill="#e8f5e9" stroke="#2e7d32"/>\n'
    b += text(tx + 12, py + 40, "class", size=10, fill="#2e7d32")
    for k in range(5):
        shade = ["#90caf9", "#a5d6a7", "#ffe082", "#ef9a9a", "#90caf9"][k]
        b += f'<rect x="{tx + 30 + k * 22}" y="{py + 44}" width="18" height="32" rx="3" fill="{shade}"/>\n'
    b += text(tx + 155, py + 64, "…", size=14)
    b += text(tx + 85, py + 100, "50 tokens + positions", size=11, fill="#555")
    b += arrow(tx + 175, py + 60, 585, py + 60)
    b += box(585, py + 34, 120, 52, "ln_pre,", sub="Transformer")
    b += arrow(705, py + 60, 730, py + 60)
    b += box(730, py + 34, 130, 52, "class token out", sub="ln_post, proj")
    b += text(795, py + 110, "image embedding", size=12)
    b += arrow(795, py + 86, 795, py + 96)
    write("vit_patches.svg", 880, 220, b)


def draw_search_index():
    """The demo: an index and one product per query."""
    b = text(20, 24, "Search: the index is built once, each query is one matrix-vector product", anchor="start",
             weight="bold")
    for k in range(3):
        b += f'<rect x="{20 + k * 8}" y="{50 + k * 8}" width="50" height="50" fill="#cfd8dc" stroke="#607d8b"/>\n'
    b += text(55, 130, "N images", size=12)
    b += arrow(90, 80, 120, 80)
    b += box(120, 56, 130, 48, "encode_image", sub="normalise, once")
    b += arrow(250, 80, 290, 80)
    for i in range(6):
        b += f'<rect x="290" y="{44 + i * 12}" width="90" height="10" fill="#bbdefb"/>\n'
    b += text(335, 134, "index X  (N, D)", size=12) + text(335, 150, "cached on disk", size=11, fill="#555")
    b += box(20, 180, 120, 40, '"a sneaker"', fill="#fff8e1", stroke="#c29100", size=12)
    b += arrow(140, 200, 160, 200)
    b += box(160, 176, 130, 48, "encode_text", sub="normalise", fill="#fff3e0", stroke="#e08a00")
    b += arrow(290, 200, 330, 200)
    b += '<rect x="330" y="190" width="10" height="20" fill="#ffcc80"/>\n' + text(335, 230, "q  (D)", size=12)
    b += arrow(390, 110, 440, 140) + arrow(345, 200, 440, 160)
    b += box(440, 126, 120, 48, "s = X q", sub="N cosine scores", fill="#e8f5e9", stroke="#2e7d32")
    b += arrow(560, 150, 590, 150)
    b += box(590, 126, 110, 48, "top-k", sub="the gallery", fill="#e8f5e9", stroke="#2e7d32")
    write("search_index.svg", 720, 250, b)


def main():
    FIGURES.mkdir(parents=True, exist_ok=True)
    for draw in (draw_two_towers, draw_modified_resnet, draw_vit_patches, draw_search_index):
        draw()
    print("wrote", ", ".join(sorted(p.name for p in FIGURES.glob("*.svg"))), "in", FIGURES)


if __name__ == "__main__":
    main()
