"""Write the bundled example datasets. No network: iris and diabetes come with scikit-learn,
the product catalogue is generated deterministically.

    python examples/make_datasets.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.datasets import load_diabetes, load_iris

HERE = Path(__file__).parent

CATEGORIES = {
    "electronics": (
        ["wireless", "bluetooth", "smart", "usb", "hd", "portable"],
        ["headphones", "speaker", "charger", "camera", "monitor", "keyboard"],
        80.0,
    ),
    "kitchen": (
        ["stainless", "nonstick", "ceramic", "electric", "glass", "bamboo"],
        ["pan", "kettle", "knife set", "blender", "mug", "cutting board"],
        35.0,
    ),
    "outdoor": (
        ["waterproof", "lightweight", "folding", "insulated", "solar", "rugged"],
        ["tent", "backpack", "lantern", "chair", "jacket", "water bottle"],
        60.0,
    ),
    "toys": (
        ["wooden", "plush", "magnetic", "remote control", "educational", "giant"],
        ["puzzle", "robot", "train set", "building blocks", "doll", "car"],
        25.0,
    ),
    "books": (
        ["illustrated", "hardcover", "paperback", "collector", "annotated", "pocket"],
        ["novel", "cookbook", "atlas", "biography", "guide", "poetry"],
        18.0,
    ),
}
PRAISE = [
    "sturdy and well made",
    "great value",
    "works as described",
    "customers love it",
    "easy to use",
    "beautiful finish",
    "long lasting",
]
COMPLAINTS = [
    "fragile packaging",
    "runs small",
    "battery drains fast",
    "color differs",
    "missing parts reported",
    "stops working after weeks",
    "flimsy hinge",
]


def write_iris() -> None:
    bunch = load_iris(as_frame=True)
    frame = bunch.frame.rename(columns={"target": "species"})
    frame["species"] = bunch.target_names[bunch.target]
    frame.to_csv(HERE / "iris" / "iris.csv", index=False)


def write_diabetes() -> None:
    frame = load_diabetes(as_frame=True, scaled=False).frame
    frame = frame.rename(columns={"target": "progression"})
    frame.to_csv(HERE / "diabetes" / "diabetes.csv", index=False)


def write_products(rows: int = 1200, seed: int = 7) -> None:
    rng = np.random.default_rng(seed)
    records = []
    for i in range(rows):
        category = str(rng.choice(list(CATEGORIES)))
        adjectives, nouns, base_price = CATEGORIES[category]
        title = f"{rng.choice(adjectives)} {rng.choice(nouns)}".title()
        flaws = int(rng.integers(0, 3))
        notes = list(rng.choice(COMPLAINTS, flaws, replace=False)) + list(
            rng.choice(PRAISE, 3 - flaws, replace=False)
        )
        description = f"{title} for everyday use: " + ", ".join(notes) + "."
        price = round(float(base_price * rng.lognormal(0.0, 0.35)), 2)
        rating = round(float(np.clip(4.6 - 0.8 * flaws + rng.normal(0, 0.4), 1.0, 5.0)), 1)
        risk = -2.6 + 0.9 * flaws - 0.6 * (rating - 3.5) + 0.5 * (category == "electronics")
        returned = "yes" if rng.random() < 1.0 / (1.0 + np.exp(-risk)) else "no"
        records.append(
            {
                "sku": f"SKU-{i:05d}",
                "title": title,
                "description": description,
                "category": category,
                "price": price,
                "rating": rating,
                "returned": returned,
            }
        )
    frame = pd.DataFrame.from_records(records)
    frame.loc[rng.choice(rows, rows // 40, replace=False), "price"] = np.nan
    frame.loc[rng.choice(rows, rows // 60, replace=False), "category"] = None
    frame.to_csv(HERE / "products" / "products.csv", index=False)


if __name__ == "__main__":
    write_iris()
    write_diabetes()
    write_products()
