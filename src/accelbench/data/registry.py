"""Every dataset the workloads read: where it comes from, what it is made of, how to check it.

One entry per dataset. Each says where the publisher serves it (and mirrors), the files with
their sizes and checksums, the licence or terms, and the forms a user may hold it in, in the
order the loaders look for them under a data directory:

* the **publisher's files** (``published=True``), verified byte for byte against the checksums
  below. Every checksum is cited to where it was published: the publisher, or a well-kept
  loader that pins it (torchvision, tensorflow-datasets, Keras, torchtext). None is computed
  by us from a download, except where the publisher *is* a git repository, whose files are
  pinned to a commit and hashed from that commit (said so at the entry).
* **other packagings** (an extracted folder, or a repack such as the archives some sites keep,
  whose checksums differ from the publisher's), verified by content: the files expected per
  split and class, counted, and per-file checksums where the publisher gives them.

Datasets behind a login (ImageNet, Criteo's Kaggle release) have no URL to fetch; the entry
says where to get them, and ``accelbench data verify`` checks them in place.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from accelbench.errors import UserError

Access = Literal["download", "manual", "bundled"]


@dataclass(frozen=True)
class RemoteFile:
    """One file as the publisher serves it."""

    name: str
    """File name on disk, under the dataset's ``folder`` of the data directory."""
    urls: tuple[str, ...] = ()
    """The publisher's URL first, then mirrors; empty where a login is needed."""
    size: int | None = None
    """Bytes, where published; checked before the (slower) checksum."""
    sha256: str | None = None
    md5: str | None = None
    """Only where no SHA-256 is published (an MD5 still catches a truncated or corrupt file)."""
    source: str = ""
    """Where the checksum and size were published."""


@dataclass(frozen=True)
class Count:
    """``expected`` files (or distinct folders) whose path, relative to the root of the form,
    matches ``pattern`` segment by segment (``*`` never crosses a ``/``)."""

    pattern: str
    expected: int
    what: Literal["files", "folders"] = "files"


@dataclass(frozen=True)
class FileCheck:
    """A file that must be present (relative to the form's root), with its checksum where the
    publisher gives one. ``anywhere``: matched by base name at any depth."""

    path: str
    md5: str | None = None
    sha256: str | None = None
    anywhere: bool = False


@dataclass(frozen=True)
class Rows:
    """A delimited text file: its number of data rows (None: not published) and the number of
    fields of every row checked."""

    path: str
    rows: int | None
    fields: int
    sep: str
    header: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Aligned:
    """Two line-aligned text files (a translation pair): the same number of lines."""

    left: str
    right: str


@dataclass(frozen=True)
class Form:
    """One way a dataset may be held under a data directory."""

    label: str
    names: tuple[str, ...]
    """Paths under the data directory that hold this form (a file, a folder or an archive)."""
    published: bool = False
    """True: the publisher's files themselves (``Dataset.files``), verified by checksum."""
    counts: tuple[Count, ...] = ()
    files: tuple[FileCheck, ...] = ()
    rows: tuple[Rows, ...] = ()
    aligned: tuple[Aligned, ...] = ()
    note: str = ""


@dataclass(frozen=True)
class Dataset:
    name: str
    title: str
    description: str
    homepage: str
    licence: str
    citation: str
    access: Access
    folder: str = ""
    """Where the publisher's files go under the data directory ("": directly in it)."""
    files: tuple[RemoteFile, ...] = ()
    forms: tuple[Form, ...] = ()
    how_to_get: str = ""
    used_by: tuple[str, ...] = field(default_factory=tuple)

    @property
    def candidates(self) -> list[str]:
        """Every path under a data directory where some form of the dataset may be, in the
        order the loaders try them."""
        return list(dict.fromkeys(n for f in self.forms for n in f.names))

    @property
    def download_size(self) -> int | None:
        sizes = [f.size for f in self.files]
        return sum(s for s in sizes if s) if sizes and all(sizes) else None


# -- CIFAR-10 ------------------------------------------------------------------------------------
CIFAR10_CLASSES = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)
# Per-file MD5 of the extracted python batches: torchvision.datasets.CIFAR10 (train_list,
# test_list, meta), github.com/pytorch/vision torchvision/datasets/cifar.py.
_CIFAR_BATCH_MD5 = {
    "data_batch_1": "c99cafc152244af753f735de768cd75f",
    "data_batch_2": "d4bba439e000b95fd0a9bffe97cbabec",
    "data_batch_3": "54ebc095f3ab1f0389bbae665268c751",
    "data_batch_4": "634d18415352ddfa80567beed471001a",
    "data_batch_5": "482c414d41f54cd18b22e5b47cb7c3cb",
    "test_batch": "40351d587109b95175f43aff81a1287e",
    "batches.meta": "5ff9c542aee3614f3951f8cda6e48888",
}

CIFAR10 = Dataset(
    name="cifar10",
    title="CIFAR-10",
    description="60,000 32x32 colour images in 10 classes: 50,000 training, 10,000 test",
    homepage="https://www.cs.toronto.edu/~kriz/cifar.html",
    licence="no licence stated by the publisher; cite the technical report",
    citation="Krizhevsky, Learning Multiple Layers of Features from Tiny Images, 2009",
    access="download",
    files=(
        RemoteFile(
            name="cifar-10-python.tar.gz",
            urls=("https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",),
            size=170498071,
            sha256="6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce",
            md5="c58f30108f718f92721af3b95e74349a",
            source="SHA-256: Keras keras/src/datasets/cifar10.py (file_hash); MD5: torchvision "
            "CIFAR10.tgz_md5; size: the publisher's Content-Length as Keras logs it",
        ),
    ),
    forms=(
        Form(
            label="extracted python batches",
            names=("cifar-10-batches-py",),
            files=tuple(FileCheck(n, md5=m) for n, m in _CIFAR_BATCH_MD5.items()),
            note="per-file MD5 published by torchvision",
        ),
        Form(label="the publisher's archive", names=("cifar-10-python.tar.gz",), published=True),
        Form(
            label="class-per-folder JPEG images (folder or .tar.gz repack)",
            names=("cifar10-jpeg", "cifar10-jpeg.tar.gz"),
            counts=tuple(
                Count(f"{split}/{c}/*.jpg", n)
                for split, n in (("train", 5000), ("test", 1000))
                for c in CIFAR10_CLASSES
            ),
            note="a re-encoding of the images (JPEG, lossy): no publisher checksum applies",
        ),
    ),
    used_by=("resnet56-cifar10",),
)

# -- IMDB ----------------------------------------------------------------------------------------
_IMDB_COUNTS = tuple(
    Count(f"{split}/{label}/*.txt", 12500)
    for split in ("train", "test")
    for label in ("pos", "neg")
)
IMDB = Dataset(
    name="imdb",
    title="IMDB Large Movie Review Dataset v1.0 (aclImdb)",
    description="50,000 labelled movie reviews for binary sentiment: 25,000 train, 25,000 test "
    "(plus 50,000 unlabelled, unused here)",
    homepage="https://ai.stanford.edu/~amaas/data/sentiment/",
    licence="no licence stated by the publisher; cite the paper",
    citation="Maas et al., Learning Word Vectors for Sentiment Analysis, ACL 2011",
    access="download",
    files=(
        RemoteFile(
            name="aclImdb_v1.tar.gz",
            urls=("https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz",),
            size=84125825,
            sha256="c40f74a18d3b61f90feba1e17730e0d38e8b97c05fde7008942e91923d1658fe",
            md5="7c2ac02c03563afcf9b574c7e56c153a",
            source="size and SHA-256: tensorflow-datasets "
            "tensorflow_datasets/datasets/imdb_reviews/checksums.tsv; MD5: torchtext "
            "torchtext/datasets/imdb.py",
        ),
    ),
    forms=(
        Form(
            label="extracted aclImdb folder",
            names=("aclImdb",),
            counts=_IMDB_COUNTS,
            files=(FileCheck("imdb.vocab"),),
        ),
        Form(
            label="aclImdb repack (.tar.gz of the labelled reviews)",
            names=("aclImdb.tar.gz",),
            counts=_IMDB_COUNTS,
            files=(FileCheck("imdb.vocab"),),
            note="not the publisher's archive, so its checksum differs: checked by content",
        ),
        Form(label="the publisher's archive", names=("aclImdb_v1.tar.gz",), published=True),
    ),
    used_by=("lstm-imdb",),
)

# -- Multi30k ------------------------------------------------------------------------------------
# The publisher is the git repository github.com/multi30k/dataset. Its raw files are pinned to
# commit a3d2e0d2; each SHA-256 and size below is of the file as stored at that commit (hashed
# from the repository's own objects, not from a download).
_M30K_COMMIT = "a3d2e0d26b56f3846f66a952536ffed4e401d05a"
_M30K_RAW = f"https://raw.githubusercontent.com/multi30k/dataset/{_M30K_COMMIT}/data/task1/raw"
_M30K_SOURCE = f"the publisher's repository github.com/multi30k/dataset at commit {_M30K_COMMIT}"
_M30K = {
    "train.de.gz": (637044, "726e39b2fa9eb9ffb6dc763fb35a179f80fae06ffc5d28b6ace5faa883de28a6"),
    "train.en.gz": (568929, "d79cfa999dd4c51d2cb42499b6796d5a882c3a8a961923c25a898c90f8bbd56f"),
    "val.de.gz": (24681, "f0cba2f995189cf5770f29a8a9a537a3ad3f51657ad873405082ff6863a5e75a"),
    "val.en.gz": (21650, "14f7d25ddd868909a9213e361768460edcacdd6ab9d1e77b92560dc10c10dc28"),
    "test_2016_flickr.de.gz": (
        22890,
        "9204244e408ccb38d2a55cfcd344df15005fc42a07a6e55ca6c52b6ababb8cc8",
    ),
    "test_2016_flickr.en.gz": (
        21077,
        "611d361c6334bc7246101d48097c13cf5c4413c5befc793cc629934359d532d9",
    ),
}
MULTI30K = Dataset(
    name="multi30k",
    title="Multi30k task 1 (German-English image-caption translation)",
    description="29,000 training, 1,014 validation and 1,000 test (2016 Flickr) sentence "
    "pairs; gzip plain text, one sentence a line, line-aligned across languages",
    homepage="https://github.com/multi30k/dataset",
    licence="derived from Flickr30K: non-commercial research and educational use",
    citation="Elliott et al., Multi30K: Multilingual English-German Image Descriptions, 2016",
    access="download",
    folder="multi30k",
    files=tuple(
        RemoteFile(name=n, urls=(f"{_M30K_RAW}/{n}",), size=s, sha256=h, source=_M30K_SOURCE)
        for n, (s, h) in _M30K.items()
    ),
    forms=(Form(label="the publisher's files", names=("multi30k",), published=True),),
    used_by=("transformer (issue 16)",),
)

# -- WMT16 English-German ------------------------------------------------------------------------
# The archives tensorflow-datasets builds wmt16_translate/de-en from; sizes and SHA-256 from
# tensorflow_datasets/url_checksums/wmt16_translate.txt (newstest2015 and 2016 are in dev.tgz).
_WMT_SOURCE = "tensorflow-datasets tensorflow_datasets/url_checksums/wmt16_translate.txt"
WMT16 = Dataset(
    name="wmt16-de-en",
    title="WMT16 news translation, English-German",
    description="Europarl v7, Common Crawl and News Commentary v11 parallel text (about 4.5 M "
    "sentence pairs) and the newstest sets in dev.tgz; the loader reads them extracted "
    "(tar -xzf each archive inside wmt16_en_de/)",
    homepage="https://www.statmt.org/wmt16/translation-task.html",
    licence="each corpus under its own terms, listed on the WMT16 translation-task page",
    citation="Bojar et al., Findings of the 2016 Conference on Machine Translation, WMT 2016",
    access="download",
    folder="wmt16_en_de",
    files=(
        RemoteFile(
            name="training-parallel-europarl-v7.tgz",
            urls=("http://www.statmt.org/wmt13/training-parallel-europarl-v7.tgz",),
            size=657632379,
            sha256="0224c7c710c8a063dfd893b0cc0830202d61f4c75c17eb8e31836103d27d96e7",
            source=_WMT_SOURCE,
        ),
        RemoteFile(
            name="training-parallel-commoncrawl.tgz",
            urls=("http://www.statmt.org/wmt13/training-parallel-commoncrawl.tgz",),
            size=918311367,
            sha256="c7a74e2ea01ac6c920123108627e35278d4ccb5701e15428ffa34de86fa3a9e5",
            source=_WMT_SOURCE,
        ),
        RemoteFile(
            name="training-parallel-nc-v11.tgz",
            urls=("http://data.statmt.org/wmt16/translation-task/training-parallel-nc-v11.tgz",),
            size=75178032,
            sha256="cfe8ab047e05043476e498ee765c98e939c7b7d6d294e856344c84476b619d6a",
            source=_WMT_SOURCE,
        ),
        RemoteFile(
            name="dev.tgz",
            urls=("http://data.statmt.org/wmt19/translation-task/dev.tgz",),
            size=38654961,
            sha256="7a7deccf82ebb05ba508dba5eb21356492224e8f630ec4f992132b029b4b25e7",
            source=_WMT_SOURCE,
        ),
    ),
    forms=(
        Form(label="the publisher's archives", names=("wmt16_en_de",), published=True),
        Form(
            label="extracted parallel text",
            # The folders the translation loader reads (data/translation.py, WMT16_DIRS).
            names=("wmt16_en_de", "wmt16-en-de", "wmt16"),
            aligned=tuple(
                Aligned(f"{stem}.de-en.de", f"{stem}.de-en.en")
                for stem in ("europarl-v7", "commoncrawl", "news-commentary-v11")
            ),
            note="each training pair must have as many German as English lines",
        ),
    ),
    used_by=("transformer (issue 16)",),
)

# -- Criteo --------------------------------------------------------------------------------------
CRITEO = Dataset(
    name="criteo",
    title="Criteo display advertising challenge (Kaggle 2014)",
    description="7 days of Criteo ad traffic for click-through-rate prediction: train.txt "
    "(45,840,617 rows) and test.txt, tab-separated: label, 13 integer and 26 hashed "
    "categorical features, empty fields for missing values",
    homepage="https://ailab.criteo.com/ressources/",
    licence="Criteo's terms, accepted on its download page (research use)",
    citation="Criteo AI Lab, Kaggle Display Advertising Challenge dataset, 2014",
    access="manual",
    how_to_get="accept Criteo's terms and download the Kaggle display-advertising challenge "
    "dataset from https://ailab.criteo.com/ressources/ (also on Kaggle's "
    "criteo-display-ad-challenge page, with a login); no checksum is published for it, so "
    "extract train.txt into DIR/ (where the Criteo loader reads it) and run `accelbench data "
    "verify criteo`, which checks it by content",
    forms=(
        Form(
            label="the extracted train.txt",
            names=("train.txt",),
            # 45,840,617 rows of 40 columns: microsoft/recommenders' integration test of the
            # full set (test_criteo_load_pandas_df, size="full").
            rows=(Rows("train.txt", 45840617, 40, "\t"),),
        ),
    ),
    used_by=("deepfm (issue 25)",),
)

# The 200-row CSV sample that DeepCTR-style examples use. The file is pinned to a commit of a
# public repository that holds it (github.com/BakerMara/PNN); SHA-256 and size are of the file
# at that commit, hashed from the repository's own objects.
_CRITEO_SAMPLE_COMMIT = "092fad272534d723964e55c68fba37884814c01c"
CRITEO_SAMPLE = Dataset(
    name="criteo-sample",
    title="Criteo sample (200 rows, CSV with a header)",
    description="200 real rows of the Criteo display-advertising data as comma-separated "
    "values with the header label,I1..I13,C1..C26: enough to test a CTR pipeline, not to "
    "measure AUC",
    homepage="https://ailab.criteo.com/ressources/",
    licence="Criteo's terms (a sample of its release); the hosting repository states none",
    citation="Criteo AI Lab, Kaggle Display Advertising Challenge dataset, 2014",
    access="download",
    files=(
        RemoteFile(
            name="criteo_sample.txt",
            urls=(
                "https://raw.githubusercontent.com/BakerMara/PNN/"
                f"{_CRITEO_SAMPLE_COMMIT}/criteo_sample.txt",
            ),
            size=52717,
            sha256="06ce132af9b326be85f2e9852517714f8486510f75d8f90d3e0a951a49f4dbdf",
            source=f"github.com/BakerMara/PNN at commit {_CRITEO_SAMPLE_COMMIT}",
        ),
    ),
    forms=(Form(label="the CSV file", names=("criteo_sample.txt",), published=True),),
    used_by=("deepfm (issue 25)",),
)

# -- ImageNet 2012 -------------------------------------------------------------------------------
_IMAGENET_TFDS = "size and SHA-256: tensorflow-datasets url_checksums/imagenet2012.txt"
IMAGENET = Dataset(
    name="imagenet",
    title="ImageNet Large Scale Visual Recognition Challenge 2012 (ILSVRC2012)",
    description="1,281,167 training and 50,000 validation images in 1,000 classes",
    homepage="https://image-net.org/challenges/LSVRC/2012/",
    licence="ImageNet terms of access: non-commercial research and educational use only",
    citation="Russakovsky et al., ImageNet Large Scale Visual Recognition Challenge, IJCV 2015",
    access="manual",
    folder="imagenet",
    how_to_get="log in at https://image-net.org/download-images.php, accept the terms, and "
    "download ILSVRC2012_img_train.tar, ILSVRC2012_img_val.tar and "
    "ILSVRC2012_devkit_t12.tar.gz into DIR/imagenet/; or lay the images out as "
    "DIR/imagenet/{train,val}/<wnid>/*.JPEG; then run `accelbench data verify imagenet`",
    files=(
        RemoteFile(
            name="ILSVRC2012_img_train.tar",
            size=147897477120,
            sha256="b08200a27a8e34218a0e58fde36b0fe8f73bc377f4acea2d91602057c3ca45bb",
            md5="1d675b47d978889d74fa0da5fadfb00e",
            source=f"{_IMAGENET_TFDS}; MD5: torchvision imagenet.py ARCHIVE_META",
        ),
        RemoteFile(
            name="ILSVRC2012_img_val.tar",
            size=6744924160,
            sha256="c7e06a6c0baccf06d8dbeb6577d71efff84673a5dbdd50633ab44f8ea0456ae0",
            md5="29b22e2961454d5413ddabcf34fc5622",
            source=f"{_IMAGENET_TFDS}; MD5: torchvision imagenet.py ARCHIVE_META",
        ),
        RemoteFile(
            name="ILSVRC2012_devkit_t12.tar.gz",
            md5="fa75699e90414af021442c21a62c3abf",
            source="MD5: torchvision imagenet.py ARCHIVE_META",
        ),
    ),
    forms=(
        Form(label="the publisher's archives", names=("imagenet",), published=True),
        Form(
            label="class-per-folder images",
            names=("imagenet",),
            # Split sizes: _SPLITS_TO_SIZES of TensorFlow models' slim ImageNet reader
            # (tensorflow/models, research/slim/datasets/imagenet.py).
            counts=(
                Count("train/*/*.JPEG", 1281167),
                Count("train/*", 1000, "folders"),
                Count("val/*/*.JPEG", 50000),
                Count("val/*", 1000, "folders"),
            ),
        ),
    ),
    used_by=("resnet50 (issue 17)",),
)

# -- UCI handwritten digits (bundled) ------------------------------------------------------------
DIGITS = Dataset(
    name="digits",
    title="UCI optical recognition of handwritten digits (scikit-learn's copy)",
    description="1,797 8x8 greyscale images of the digits 0-9 (pixel values 0-16), the test "
    "set of the UCI optdigits data, shipped inside scikit-learn: no download",
    homepage="https://archive.ics.uci.edu/dataset/80/optical+recognition+of+handwritten+digits",
    licence="CC BY 4.0 (UCI Machine Learning Repository)",
    citation="Alpaydin and Kaynak, Optical Recognition of Handwritten Digits, UCI ML "
    "Repository, 1998",
    access="bundled",
    used_by=("cnn-digits",),
)

DATASETS: dict[str, Dataset] = {
    d.name: d for d in (CIFAR10, IMDB, MULTI30K, WMT16, CRITEO, CRITEO_SAMPLE, IMAGENET, DIGITS)
}


def get(name: str) -> Dataset:
    """The registry entry called ``name``; a :class:`UserError` listing the known ones if none."""
    try:
        return DATASETS[name]
    except KeyError:
        raise UserError(
            f"unknown dataset {name!r}; known: {', '.join(DATASETS)} (accelbench data list)"
        ) from None


__all__ = [
    "DATASETS",
    "Aligned",
    "Count",
    "Dataset",
    "FileCheck",
    "Form",
    "RemoteFile",
    "Rows",
    "get",
]
