"""Request bodies of the ``vaekit serve`` API (pydantic models, published in the OpenAPI docs at ``/docs``).

Every body forbids unknown keys (a typo is a 422 naming the key, never a silently ignored field) and
rejects NaN and infinity. Shapes that depend on the model (``latent_dim``, the data shape) are
checked by the app, which answers 422 naming the field and the shape it expects; sizes above the
app's batch limit are a 413.

Inputs (``/encode``, ``/reconstruct``, ``/score``, ``/interpolate``) come in exactly one of three forms:

* ``images``: base64 PNG or JPEG files (a ``data:image/png;base64,`` prefix is accepted), converted to
  the model's image mode and size like the training data;
* ``arrays``: nested lists of numbers of shape (n, *data_shape) or (n, features) in the data's own
  units (8-bit images as integers 0..255 or floats in [0, 1]; vectors as they are);
* ``records``: table rows as objects ``{"column": value}`` (models trained on tables);
* ``texts``: sentences as strings (models trained on text; unknown words become ``<unk>``).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = [
    "OutputFormat",
    "Inputs",
    "SampleRequest",
    "EncodeRequest",
    "DecodeRequest",
    "ReconstructRequest",
    "InterpolateRequest",
    "ScoreOptions",
    "ScoreRequest",
    "LATENT_BOUND",
]

#: Largest magnitude accepted for a latent coordinate (the prior puts ~all mass within |z| < 6).
LATENT_BOUND = 1000.0

OutputFormat = Literal["png", "array", "records", "text"]
Latent = Annotated[float, Field(ge=-LATENT_BOUND, le=LATENT_BOUND)]
Seed = Annotated[int, Field(ge=0, le=2**63 - 1)]
Cell = Union[float, int, str, bool, None]

_STRICT = ConfigDict(extra="forbid", allow_inf_nan=False)
_OUTPUT_HELP = ("How outputs travel: 'png' (base64 PNG, image models), 'array' (nested lists in the data's own "
                "units), 'records' (table rows) or 'text' (sentences); default png for images, records for tables, "
                "text for text, array otherwise.")


class _Body(BaseModel):
    model_config = _STRICT


class Inputs(_Body):
    """Examples in exactly one of three forms (see the module docstring)."""

    images: Optional[list[str]] = Field(None, description="Base64 PNG/JPEG files, one per example.")
    arrays: Optional[list[Any]] = Field(
        None, description="Nested lists of shape (n, *data_shape) or (n, features), in the data's own units.")
    records: Optional[list[dict[str, Cell]]] = Field(None, description="Table rows as {column: value} objects.")
    texts: Optional[list[str]] = Field(None, description="Sentences, one per example (text models).")

    @model_validator(mode="after")
    def _exactly_one(self):
        given = [k for k in ("images", "arrays", "records", "texts") if getattr(self, k) is not None]
        if len(given) != 1:
            got = ", ".join(given) if given else "none of them"
            raise ValueError(f"Give exactly one of 'images', 'arrays', 'records' or 'texts'; got {got}.")
        return self


class SampleRequest(_Body):
    """``POST /sample``: decode ``n`` draws z ~ p(z), scaled by ``temperature``."""

    n: int = Field(8, ge=1, description="Number of samples (at most the app's max_batch).")
    temperature: float = Field(1.0, ge=0, le=10, description="Scale of the prior draws (below 1: cleaner, less varied).")
    seed: Optional[Seed] = Field(0, description="Seed of the draws; null for fresh randomness.")
    output: Optional[OutputFormat] = Field(None, description=_OUTPUT_HELP)
    return_z: bool = Field(False, description="Also return the latent draws z, shape (n, latent_dim).")


class EncodeRequest(Inputs):
    """``POST /encode``: posterior means and standard deviations of q(z|x)."""


class DecodeRequest(_Body):
    """``POST /decode``: decoder means E[x|z] of latent codes ``z`` of shape (n, latent_dim)."""

    z: list[list[Latent]] = Field(..., description="Latent codes, shape (n, latent_dim).")
    output: Optional[OutputFormat] = Field(None, description=_OUTPUT_HELP)


class ReconstructRequest(Inputs):
    """``POST /reconstruct``: decoder means at the posterior means of the inputs."""

    output: Optional[OutputFormat] = Field(None, description=_OUTPUT_HELP)


class InterpolateRequest(_Body):
    """``POST /interpolate``: decode ``steps`` points from ``a`` to ``b``.

    The ends are either two latent codes (``z_a``, ``z_b``) or two examples (``inputs`` holding exactly
    two, whose posterior means are the ends).
    """

    z_a: Optional[list[Latent]] = Field(None, description="Start latent code, shape (latent_dim,).")
    z_b: Optional[list[Latent]] = Field(None, description="End latent code, shape (latent_dim,).")
    inputs: Optional[Inputs] = Field(None, description="Two examples whose posterior means are the ends.")
    steps: int = Field(8, ge=2, description="Points including both ends (at most the app's max_batch).")
    spherical: bool = Field(False, description="Slerp instead of a straight line (White 2016).")
    output: Optional[OutputFormat] = Field(None, description=_OUTPUT_HELP)

    @model_validator(mode="after")
    def _ends(self):
        latents = self.z_a is not None or self.z_b is not None
        if latents == (self.inputs is not None):
            raise ValueError("Give either both 'z_a' and 'z_b' (latent codes) or 'inputs' (two examples), not both or neither.")
        if latents and (self.z_a is None or self.z_b is None):
            raise ValueError("Give both 'z_a' and 'z_b'.")
        return self


class ScoreOptions(_Body):
    """How ``POST /score`` scores (higher = more anomalous).

    ``method="elbo"`` scores with the negative ELBO (closed-form KL, ``n_samples`` draws of z);
    ``method="iwae"`` with the negative IWAE bound with ``k`` importance samples (Burda et al. 2016),
    a tighter estimate of -log p(x). Both are in nats per example and use ``seed`` for their draws, so
    the same request gives the same scores.
    """

    method: Literal["elbo", "iwae"] = Field("elbo", description="Likelihood estimate behind the scores.")
    k: int = Field(100, ge=1, le=5000, description="Importance samples for method='iwae'.")
    n_samples: int = Field(1, ge=1, le=1000, description="Draws of z averaged in the ELBO for method='elbo'.")
    seed: Seed = Field(0, description="Seed of the draws of z.")


class ScoreRequest(Inputs, ScoreOptions):
    """``POST /score``: anomaly scores of the inputs (see :class:`ScoreOptions`)."""
