from ami.ml.models.algorithm import Algorithm, AlgorithmCategoryMap
from ami.ml.models.pipeline import Pipeline
from ami.ml.models.processing_service import ProcessingService
from ami.ml.models.project_pipeline_config import ProjectPipelineConfig

__all__ = [
    "Algorithm",
    "AlgorithmCategoryMap",
    "Pipeline",
    "ProcessingService",
    "ProjectPipelineConfig",
]
