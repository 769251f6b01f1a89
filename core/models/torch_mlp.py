"""A small PyTorch MLP with a scikit-learn face: seeded, deterministic, early stopping."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator
from sklearn.model_selection import train_test_split
from torch import nn

EpochCallback = Callable[[int, int, float], None]  # (epoch, epochs, validation loss)


def build_network(n_features: int, hidden_size: int, n_outputs: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(n_features, hidden_size),
        nn.ReLU(),
        nn.Linear(hidden_size, hidden_size),
        nn.ReLU(),
        nn.Linear(hidden_size, n_outputs),
    )


class ServingModule(nn.Module):
    """What is exported: probabilities for classification, de-standardised values for regression."""

    def __init__(self, network: nn.Module, task: str, y_mean: float, y_std: float) -> None:
        super().__init__()
        self.network, self.task = network, task
        self.register_buffer("y_mean", torch.tensor(y_mean, dtype=torch.float32))
        self.register_buffer("y_std", torch.tensor(y_std, dtype=torch.float32))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        out = self.network(features)
        if self.task == "classification":
            return torch.softmax(out, dim=1)
        return out * self.y_std + self.y_mean


class TorchMLP(BaseEstimator):
    def __init__(
        self,
        task: str = "classification",
        hidden_size: int = 128,
        epochs: int = 10,
        batch_size: int = 32,
        learning_rate: float = 1e-3,
        patience: int = 5,
        validation_fraction: float = 0.1,
        class_weight: str | None = None,
        random_state: int = 42,
    ) -> None:
        self.task = task
        self.hidden_size = hidden_size
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.patience = patience
        self.validation_fraction = validation_fraction
        self.class_weight = class_weight
        self.random_state = random_state

    def _targets(self, y: np.ndarray) -> torch.Tensor:
        if self.task == "classification":
            return torch.as_tensor(np.searchsorted(self.classes_, y), dtype=torch.long)
        scaled = (np.asarray(y, dtype=np.float64) - self.y_mean_) / self.y_std_
        return torch.as_tensor(scaled, dtype=torch.float32).reshape(-1, 1)

    def _loss(self, y: np.ndarray) -> nn.Module:
        if self.task != "classification":
            return nn.MSELoss()
        if self.class_weight == "balanced":
            counts = np.bincount(np.searchsorted(self.classes_, y), minlength=len(self.classes_))
            weights = len(y) / (len(self.classes_) * np.maximum(counts, 1))
            return nn.CrossEntropyLoss(weight=torch.as_tensor(weights, dtype=torch.float32))
        return nn.CrossEntropyLoss()

    def _split(self, X: np.ndarray, y: np.ndarray) -> tuple[Any, Any, Any, Any]:
        if len(y) < 20 or self.validation_fraction <= 0:
            return X, None, y, None
        stratify = y if self.task == "classification" else None
        try:
            return train_test_split(
                X,
                y,
                test_size=self.validation_fraction,
                random_state=self.random_state,
                stratify=stratify,
            )
        except ValueError:  # a class too small to stratify
            return train_test_split(
                X, y, test_size=self.validation_fraction, random_state=self.random_state
            )

    def fit(self, X: Any, y: Any, epoch_callback: EpochCallback | None = None) -> TorchMLP:
        torch.manual_seed(self.random_state)
        X = np.asarray(X, dtype=np.float32)
        y = np.asarray(y)
        self.n_features_in_ = X.shape[1]
        if self.task == "classification":
            self.classes_ = np.unique(y)
            n_outputs = len(self.classes_)
            self.y_mean_, self.y_std_ = 0.0, 1.0
        else:
            n_outputs = 1
            self.y_mean_ = float(np.mean(y))
            self.y_std_ = float(np.std(y)) or 1.0
        X_fit, X_val, y_fit, y_val = self._split(X, y)
        network = build_network(self.n_features_in_, self.hidden_size, n_outputs)
        optimizer = torch.optim.Adam(network.parameters(), lr=self.learning_rate)
        loss_fn = self._loss(y_fit)
        inputs, targets = torch.as_tensor(X_fit), self._targets(y_fit)
        generator = torch.Generator().manual_seed(self.random_state)
        best_loss, best_state, stale = float("inf"), None, 0
        self.n_epochs_ = 0
        for epoch in range(1, self.epochs + 1):
            network.train()
            order = torch.randperm(len(inputs), generator=generator)
            for start in range(0, len(order), self.batch_size):
                batch = order[start : start + self.batch_size]
                optimizer.zero_grad()
                loss_fn(network(inputs[batch]), targets[batch]).backward()
                optimizer.step()
            self.n_epochs_ = epoch
            network.eval()
            with torch.no_grad():
                check_x = torch.as_tensor(X_val) if X_val is not None else inputs
                check_y = self._targets(y_val) if y_val is not None else targets
                val_loss = float(loss_fn(network(check_x), check_y))
            if epoch_callback:
                epoch_callback(epoch, self.epochs, val_loss)
            if val_loss < best_loss - 1e-6:
                best_loss, stale = val_loss, 0
                best_state = {k: v.clone() for k, v in network.state_dict().items()}
            else:
                stale += 1
                if stale >= self.patience:
                    break
        if best_state is not None:
            network.load_state_dict(best_state)
        network.eval()
        self.serving_module_ = ServingModule(network, self.task, self.y_mean_, self.y_std_).eval()
        return self

    def _forward(self, X: Any) -> np.ndarray:
        with torch.no_grad():
            out = self.serving_module_(torch.as_tensor(np.asarray(X, dtype=np.float32)))
        return out.numpy()

    def predict_proba(self, X: Any) -> np.ndarray:
        return self._forward(X)

    def predict(self, X: Any) -> np.ndarray:
        out = self._forward(X)
        if self.task == "classification":
            return np.asarray(self.classes_[np.argmax(out, axis=1)])
        return out.reshape(-1)

    def architecture(self) -> dict[str, Any]:
        """What it takes to rebuild the network before loading a state_dict."""
        classes = self.classes_.tolist() if self.task == "classification" else None
        return {
            "n_features": int(self.n_features_in_),
            "hidden_size": self.hidden_size,
            "task": self.task,
            "classes": classes,
            "y_mean": self.y_mean_,
            "y_std": self.y_std_,
        }
