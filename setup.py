"""qlsgan_tf: latent style-based quantum GANs on TensorFlow Quantum, and the capacity study."""
import pathlib

from setuptools import find_packages, setup

HERE = pathlib.Path(__file__).parent

# One pinned stack (see README "Why the stack is pinned"): TF 2.16+ moves to Keras 3,
# which TFQ's layers and TF-GAN's estimator do not support.
INSTALL_REQUIRES = [
    "tensorflow==2.15.1",
    "tensorflow-estimator==2.15.0",
    "keras==2.15.0",
    "tensorflow-quantum==0.7.3",
    "cirq-core==1.3.0",
    "cirq-google==1.3.0",
    "tensorflow-gan==2.1.0",
    "tensorflow-probability==0.23.*",
    "tf-keras==2.15.*",
    "keras-tuner[bayesian]==1.4.8",  # the bayesian extra: scikit-learn, for --tuner bayesian
    "numpy==1.26.*",
    "absl-py",
    "tensorboard==2.15.*",
    "scipy",
    "h5py",
    "matplotlib",
    "tqdm",
    # tensorflow-hub 0.16 (imported by tensorflow-gan) needs pkg_resources, gone in setuptools 81.
    "setuptools<81",
]

setup(
    name="qlsgan_tf",
    version="0.1.0",
    description=(
        "Latent style-based quantum GANs as TensorFlow/Keras components, "
        "and the capacity-scaling study on SAT-4."
    ),
    long_description=(HERE / "README.md").read_text(encoding="utf-8")
    if (HERE / "README.md").exists()
    else "",
    long_description_content_type="text/markdown",
    python_requires=">=3.11,<3.12",
    packages=find_packages(include=["qlsgan_tf", "qlsgan_tf.*"]),
    package_data={
        "qlsgan_tf.data": ["sample/*"],
        "qlsgan_tf.metrics": ["weights/*"],
        "qlsgan_tf.study": ["pilot_world.json"],
    },
    include_package_data=True,
    install_requires=INSTALL_REQUIRES,
    extras_require={
        "test": ["pytest>=7", "pytest-xdist"],
        "lint": ["ruff", "mypy==2.4.1"],
        "bench": ["psutil"],
    },
    entry_points={"console_scripts": ["qlsgan=qlsgan_tf.cli.main:run"]},
    classifiers=[
        "Programming Language :: Python :: 3.11",
        "Topic :: Scientific/Engineering :: Artificial Intelligence",
        "Topic :: Scientific/Engineering :: Physics",
    ],
)
