"""The demo consortium: four fictional members, their courses and equivalences, and
a few demo learners. Everything here is published through the public API by
`cairn.demo.seed_demo` (the bodies are DESIGN §7 request bodies, as a client sends them).

Members (R-MB-1):
  uni-north    University of the North      England   FHEQ, awarding powers FHEQ 8
  uni-scot     Firthside University         Scotland  SCQF, awarding powers SCQF 12
  uni-lowlands University of the Lowlands   NL        EQF,  awarding powers EQF 8
  uni-valleys  University of the Valleys    Wales     FHEQ, awarding powers FHEQ 6 only

What the data exercises:
  * credit as each issuer gives it (R-CR-3): CATS, SCQF, ECTS (with notional hours);
  * levels in their own frameworks (R-LV-1) and stated equivalents where the mapping is
    one-to-many (R-LV-3): uni-north DS601 (FHEQ 6) states SCQF 10; uni-lowlands AD-ICT01
    and AD-BUS01 (EQF 5) state FHEQ 5 and FHEQ 4;
  * a course republished with a change (R-CAT-2): uni-north CS401 has two versions;
  * a composite course (R-CAT-4): uni-north DS720 is made of units DS721-DS724;
  * micro-credentials, four of them EU micro-credentials with every R-CAT-5 element
    (uni-lowlands EMC-*);
  * equivalences published by the receiving member (R-CAT-3), one 2-to-1
    (uni-lowlands EMC-DV1 + EMC-DV2 = uni-north DS702) and one with an end date
    (uni-valleys BM402 = uni-north BM401, until 2025-08-31).
"""

from __future__ import annotations

from typing import Any

Body = dict[str, Any]

ADMIN_SUBJECT = "consortium-admin"

# --- members (R-MB-1) -------------------------------------------------------------------

MEMBERS: dict[str, Body] = {
    "uni-north": {
        "name": "University of the North", "country": "GB-ENG", "framework": "FHEQ",
        "awarding_powers": {"framework": "FHEQ", "max_level": 8},
    },
    "uni-scot": {
        "name": "Firthside University", "country": "GB-SCT", "framework": "SCQF",
        "awarding_powers": {"framework": "SCQF", "max_level": 12},
    },
    "uni-lowlands": {
        "name": "University of the Lowlands", "country": "NL", "framework": "EQF",
        "awarding_powers": {"framework": "EQF", "max_level": 8},
    },
    "uni-valleys": {
        "name": "University of the Valleys (Prifysgol y Cymoedd)", "country": "GB-WLS",
        "framework": "FHEQ",
        # A teaching institution with taught degree-awarding powers: up to honours only.
        "awarding_powers": {"framework": "FHEQ", "max_level": 6},
    },
}

# --- demo learners (used by the ledger and award demos) ----------------------------------

LEARNERS: list[Body] = [
    {"learner_id": "L-0000001", "home_member": "uni-north", "associate": True},
    {"learner_id": "L-0000002", "home_member": "uni-scot", "associate": False},
    {"learner_id": "L-0000003", "home_member": "uni-lowlands", "associate": True},
]


# --- course bodies ------------------------------------------------------------------------

def _subjects(*shares: tuple[str, int]) -> list[Body]:
    return [{"hecos": hecos, "percent": percent} for hecos, percent in shares]


def _course(*, title: str, credit: tuple[str, str], level: tuple[str, int], hours: int,
            subjects: list[Body], isced_f: str, outcomes: list[str], assessment: str,
            participation: str, quality_assurance: str, effective_from: str,
            language: str = "en", identity_verified: bool = True,
            micro_credential: bool = False, eu_micro_credential: bool = False,
            equivalent_levels: list[tuple[str, int]] = (), units: list[tuple[str, str]] = (),
            ) -> Body:
    body: Body = {
        "title": title,
        "credit": {"value": credit[0], "scheme": credit[1]},
        "level": {"framework": level[0], "value": level[1]},
        "notional_hours": hours,
        "subjects": subjects,
        "isced_f": isced_f,
        "learning_outcomes": outcomes,
        "assessment": assessment,
        "participation": participation,
        "identity_verified": identity_verified,
        "quality_assurance": quality_assurance,
        "language": language,
        "micro_credential": micro_credential or eu_micro_credential,
        "eu_micro_credential": eu_micro_credential,
        "effective_from": effective_from,
    }
    if equivalent_levels:
        body["equivalent_levels"] = [{"framework": f, "value": v} for f, v in equivalent_levels]
    if units:
        body["units"] = [{"institution_id": i, "code": c} for i, c in units]
    return body


_QA_NORTH = "QAA Quality Code; University of the North periodic programme review"
_QA_SCOT = "QAA Scotland Enhancement-led Institutional Review (ELIR)"
_QA_LOWLANDS = "NVAO institutional accreditation; internal quality assurance following the ESG"
_QA_VALLEYS = "QAA Quality Enhancement Review (Wales)"


def north(credits: int, level: int, **kw: Any) -> Body:
    """uni-north: CATS credit, FHEQ level, 10 notional hours a credit (R-CR-1)."""
    return _course(credit=(str(credits), "CATS"), level=("FHEQ", level), hours=credits * 10,
                   quality_assurance=_QA_NORTH, **kw)


def scot(credits: int, level: int, **kw: Any) -> Body:
    """uni-scot: SCQF credit and level."""
    return _course(credit=(str(credits), "SCQF"), level=("SCQF", level), hours=credits * 10,
                   quality_assurance=_QA_SCOT, **kw)


def lowlands(ects: int, level: int, **kw: Any) -> Body:
    """uni-lowlands: ECTS credit, EQF level, 25 notional hours an ECTS credit."""
    return _course(credit=(str(ects), "ECTS"), level=("EQF", level), hours=ects * 25,
                   quality_assurance=_QA_LOWLANDS, **kw)


def valleys(credits: int, level: int, **kw: Any) -> Body:
    """uni-valleys: CATS credit, FHEQ level."""
    return _course(credit=(str(credits), "CATS"), level=("FHEQ", level), hours=credits * 10,
                   quality_assurance=_QA_VALLEYS, **kw)


# Each entry: (institution id, course code, [version bodies, oldest first]). The order
# matters: units come before the composite course that lists them (R-CAT-4).
COURSES: list[tuple[str, str, list[Body]]] = [
    # ---------------------------------------------------------------- uni-north (FHEQ)
    ("uni-north", "CS401", [
        north(20, 4, title="Programming Fundamentals",
              subjects=_subjects(("100366", 100)), isced_f="0613",
              outcomes=["Write, test and debug small object-oriented programs in Java.",
                        ("Use variables, control structures, methods and arrays to solve "
                         "well-defined problems."),
                        "Explain the compile-run cycle and read compiler error messages."],
              assessment="Two programming assignments (50%) and an invigilated practical "
                         "exam (50%)",
              participation="on-site", effective_from="2024-09-01"),
        # R-CAT-2: the 2025 curriculum review moved the module to Python and blended
        # delivery; a new version, in force from 2025-09-01.
        north(20, 4, title="Programming Fundamentals",
              subjects=_subjects(("100366", 100)), isced_f="0613",
              outcomes=["Write, test and debug small programs in Python.",
                        ("Use variables, control structures, functions and collections to "
                         "solve well-defined problems."),
                        "Write unit tests and use version control for individual work.",
                        "Explain how a program is interpreted and read error tracebacks."],
              assessment="Auto-graded exercises (20%), a programming project (40%) and a "
                         "practical exam (40%)",
              participation="blended", effective_from="2025-09-01"),
    ]),
    ("uni-north", "MA402", [
        north(20, 4, title="Mathematics for Computing",
              subjects=_subjects(("100403", 50), ("100366", 50)), isced_f="0541",
              outcomes=["Apply set theory, logic and proof techniques to computing problems.",
                        "Use matrices and vectors to represent and transform data.",
                        "Solve problems in discrete probability and combinatorics."],
              assessment="Problem sheets (30%) and a written exam (70%)",
              participation="on-site", effective_from="2024-09-01"),
    ]),
    ("uni-north", "BM401", [
        north(20, 4, title="Principles of Management",
              subjects=_subjects(("100089", 100)), isced_f="0413",
              outcomes=["Describe the main schools of management thought.",
                        ("Explain the functions of planning, organising, leading and "
                         "controlling in organisations."),
                        "Analyse a small organisation's structure and culture."],
              assessment="Case-study report (60%) and a group presentation (40%)",
              participation="on-site", effective_from="2024-09-01"),
    ]),
    ("uni-north", "CS502", [
        north(20, 5, title="Databases and Data Management",
              subjects=_subjects(("100754", 60), ("100755", 40)), isced_f="0612",
              outcomes=["Design normalised relational schemas from a requirements statement.",
                        ("Write SQL queries, including joins, aggregation and window "
                         "functions."),
                        "Explain transactions, isolation levels and indexing.",
                        "Apply data-governance principles to the storage of personal data."],
              assessment="Database design coursework (50%) and a written exam (50%)",
              participation="on-site", effective_from="2024-09-01"),
    ]),
    ("uni-north", "BM501", [
        north(20, 5, title="Marketing Principles and Analytics",
              subjects=_subjects(("100075", 70), ("100406", 30)), isced_f="0414",
              outcomes=["Apply segmentation, targeting and positioning to a product.",
                        "Measure campaign performance with web and customer analytics.",
                        "Recommend marketing decisions supported by data."],
              assessment="Marketing plan with an analytics appendix (100%)",
              participation="blended", effective_from="2024-09-01"),
    ]),
    ("uni-north", "ST501", [
        north(20, 5, title="Applied Statistics",
              subjects=_subjects(("100406", 100)), isced_f="0542",
              outcomes=["Choose and apply appropriate hypothesis tests.",
                        "Fit and interpret linear and logistic regression models.",
                        "Communicate statistical findings to a non-specialist audience."],
              assessment="Data-analysis report (40%) and a written exam (60%)",
              participation="on-site", effective_from="2024-09-01"),
    ]),
    ("uni-north", "DS601", [
        north(20, 6, title="Machine Learning",
              subjects=_subjects(("100992", 70), ("100366", 30)), isced_f="0613",
              outcomes=["Explain the bias-variance trade-off and regularisation.",
                        "Train, tune and evaluate supervised learning models.",
                        "Apply clustering and dimensionality reduction to unlabelled data.",
                        "Assess a model for fairness and robustness."],
              assessment="Machine-learning project (60%) and a written exam (40%)",
              participation="on-site", effective_from="2024-09-01",
              # R-LV-3: FHEQ 6 maps to SCQF 9 or 10; the course says which.
              equivalent_levels=[("SCQF", 10)]),
    ]),
    ("uni-north", "CS603", [
        north(15, 6, title="Information Security",
              subjects=_subjects(("100376", 100)), isced_f="0612",
              outcomes=["Analyse threats to information systems using a threat model.",
                        "Apply cryptographic primitives correctly in applications.",
                        ("Evaluate an organisation's security controls against a standard "
                         "such as ISO/IEC 27001.")],
              assessment="Security assessment report (50%) and a written exam (50%)",
              participation="on-site", effective_from="2024-09-01"),
    ]),
    ("uni-north", "BM602", [
        north(15, 6, title="Digital Transformation and Strategy",
              subjects=_subjects(("100078", 60), ("100361", 40)), isced_f="0413",
              outcomes=["Critically evaluate digital business models.",
                        "Develop a digital transformation roadmap for an organisation.",
                        "Assess the organisational change a new information system needs."],
              assessment="Strategy report (70%) and a presentation (30%)",
              participation="blended", effective_from="2024-09-01"),
    ]),
    ("uni-north", "DS701", [
        north(15, 7, title="Data Science Foundations",
              subjects=_subjects(("100366", 100)), isced_f="0613",
              outcomes=["Acquire, clean and combine data from heterogeneous sources.",
                        "Apply exploratory data analysis and statistical inference.",
                        "Build reproducible analysis pipelines in Python notebooks.",
                        "Critically reflect on the limitations of a data-driven conclusion."],
              assessment="Online proctored exam (40%) and a reproducible analysis "
                         "portfolio (60%)",
              participation="online", micro_credential=True, effective_from="2024-09-01"),
    ]),
    ("uni-north", "DS702", [
        north(15, 7, title="Data Visualisation and Communication",
              subjects=_subjects(("100366", 70), ("100406", 30)), isced_f="0613",
              outcomes=["Apply principles of visual perception to chart design.",
                        "Build interactive dashboards for a defined audience.",
                        "Construct a data-driven narrative and present it to stakeholders."],
              assessment="Dashboard project (60%) and a recorded data story (40%)",
              participation="online", micro_credential=True, effective_from="2024-09-01"),
    ]),
    ("uni-north", "DS710", [
        north(10, 7, title="Ethics of Data and Artificial Intelligence",
              subjects=_subjects(("100793", 50), ("100359", 50)), isced_f="0688",
              outcomes=["Critically analyse ethical issues in collecting and using data.",
                        "Apply UK GDPR and the EU AI Act to a proposed AI system.",
                        "Conduct an algorithmic impact assessment."],
              assessment="Algorithmic impact assessment (100%)",
              participation="online", micro_credential=True, effective_from="2024-09-01"),
    ]),
    # R-CAT-4: four 5-credit units that together make DS720 Applied Machine Learning.
    ("uni-north", "DS721", [
        north(5, 7, title="Applied Machine Learning: Supervised Learning",
              subjects=_subjects(("100992", 100)), isced_f="0613",
              outcomes=["Train and tune regression and classification models.",
                        "Select models using cross-validation."],
              assessment="Practical notebook assignment", participation="online",
              micro_credential=True, effective_from="2025-01-06"),
    ]),
    ("uni-north", "DS722", [
        north(5, 7, title="Applied Machine Learning: Unsupervised Learning",
              subjects=_subjects(("100992", 100)), isced_f="0613",
              outcomes=["Apply clustering and dimensionality reduction to real data.",
                        "Evaluate unsupervised models without ground truth."],
              assessment="Practical notebook assignment", participation="online",
              micro_credential=True, effective_from="2025-01-06"),
    ]),
    ("uni-north", "DS723", [
        north(5, 7, title="Applied Machine Learning: Neural Networks",
              subjects=_subjects(("100992", 60), ("100359", 40)), isced_f="0613",
              outcomes=["Build and train feed-forward and convolutional neural networks.",
                        "Diagnose over-fitting and apply regularisation."],
              assessment="Practical notebook assignment", participation="online",
              micro_credential=True, effective_from="2025-01-06"),
    ]),
    ("uni-north", "DS724", [
        north(5, 7, title="Applied Machine Learning: Deployment and MLOps",
              subjects=_subjects(("100992", 50), ("100374", 50)), isced_f="0613",
              outcomes=["Package a trained model as a versioned web service.",
                        "Monitor a deployed model for drift."],
              assessment="Deployed model with a technical report", participation="online",
              micro_credential=True, effective_from="2025-01-06"),
    ]),
    ("uni-north", "DS720", [
        north(20, 7, title="Applied Machine Learning",
              subjects=_subjects(("100992", 80), ("100374", 20)), isced_f="0613",
              outcomes=[("Design, train and evaluate machine-learning models for a real "
                         "problem."),
                        ("Choose between supervised, unsupervised and neural approaches with "
                         "justification."),
                        "Deploy and monitor a model responsibly."],
              assessment="The four unit assessments and a portfolio viva",
              participation="online", effective_from="2025-01-06",
              units=[("uni-north", "DS721"), ("uni-north", "DS722"),
                     ("uni-north", "DS723"), ("uni-north", "DS724")]),
    ]),
    ("uni-north", "BM701", [
        north(15, 7, title="Project Management",
              subjects=_subjects(("100812", 100)), isced_f="0413",
              outcomes=["Plan a project's scope, schedule, budget and risks.",
                        "Compare predictive and agile delivery approaches.",
                        "Lead a project team through a simulated project."],
              assessment="Project plan (50%) and a reflective report (50%)",
              participation="online", micro_credential=True, effective_from="2024-09-01"),
    ]),
    ("uni-north", "ED701", [
        north(30, 7, title="Learning and Teaching in Higher Education",
              subjects=_subjects(("100509", 100)), isced_f="0111",
              outcomes=["Design inclusive learning activities aligned to outcomes.",
                        ("Evaluate assessment and feedback practice against the UK "
                         "Professional Standards Framework."),
                        "Reflect critically on observed teaching practice."],
              assessment="Teaching portfolio with two observed sessions (100%)",
              participation="blended", effective_from="2024-09-01"),
    ]),
    ("uni-north", "DS799", [
        north(30, 7, title="Data Science Capstone Project",
              subjects=_subjects(("100366", 80), ("100406", 20)), isced_f="0613",
              outcomes=["Define a data science problem with an external partner.",
                        "Carry out an independent investigation using appropriate methods.",
                        "Report the findings in a dissertation and defend them orally."],
              assessment="Dissertation (80%) and a viva (20%)",
              participation="blended", effective_from="2024-09-01"),
    ]),
    # ---------------------------------------------------------------- uni-scot (SCQF)
    ("uni-scot", "CS07A", [
        scot(20, 7, title="Programming 1",
             subjects=_subjects(("100366", 100)), isced_f="0613",
             outcomes=["Write structured programs in Python.",
                       "Decompose a problem into functions and test them.",
                       "Use lists, dictionaries and files."],
             assessment="Lab exercises (40%) and a practical exam (60%)",
             participation="on-site", effective_from="2024-09-09"),
    ]),
    ("uni-scot", "MA07A", [
        scot(20, 7, title="Foundations of Mathematics",
             subjects=_subjects(("100403", 100)), isced_f="0541",
             outcomes=["Manipulate algebraic expressions, functions and inequalities.",
                       "Differentiate and integrate elementary functions.",
                       "Construct simple proofs by induction and contradiction."],
             assessment="Class tests (30%) and a written exam (70%)",
             participation="on-site", effective_from="2024-09-09"),
    ]),
    ("uni-scot", "BU08A", [
        scot(20, 8, title="Organisational Behaviour",
             subjects=_subjects(("100089", 50), ("100085", 50)), isced_f="0413",
             outcomes=["Explain theories of motivation, teams and leadership.",
                       "Analyse power and culture in organisations.",
                       "Apply organisational-behaviour concepts to a workplace case."],
             assessment="Essay (50%) and a written exam (50%)",
             participation="on-site", effective_from="2024-09-09"),
    ]),
    ("uni-scot", "SE08A", [
        scot(20, 8, title="Software Engineering Practice",
             subjects=_subjects(("100374", 100)), isced_f="0613",
             outcomes=["Work in an agile team using version control and code review.",
                       "Write automated tests and use continuous integration.",
                       "Elicit and document requirements as user stories."],
             assessment="Team project (70%) and an individual reflection (30%)",
             participation="on-site", effective_from="2024-09-09"),
    ]),
    ("uni-scot", "DB09A", [
        scot(20, 9, title="Databases and Information Retrieval",
             subjects=_subjects(("100754", 70), ("100755", 30)), isced_f="0612",
             outcomes=["Design relational and document databases.",
                       "Optimise SQL queries using execution plans.",
                       "Build a simple full-text search index and rank results."],
             assessment="Coursework (50%) and a written exam (50%)",
             participation="on-site", effective_from="2024-09-09"),
    ]),
    ("uni-scot", "ST09A", [
        scot(20, 9, title="Statistical Modelling",
             subjects=_subjects(("100406", 100)), isced_f="0542",
             outcomes=["Fit generalised linear models and check their assumptions.",
                       "Use R for reproducible statistical analysis.",
                       "Interpret model output for decision makers."],
             assessment="Two analysis reports (50%) and a written exam (50%)",
             participation="on-site", effective_from="2024-09-09"),
    ]),
    ("uni-scot", "AI10A", [
        scot(20, 10, title="Artificial Intelligence",
             subjects=_subjects(("100359", 100)), isced_f="0613",
             outcomes=["Apply search, planning and knowledge representation techniques.",
                       "Explain probabilistic reasoning with Bayesian networks.",
                       "Critically discuss the societal impact of AI systems."],
             assessment="Coursework (40%) and a written exam (60%)",
             participation="on-site", effective_from="2024-09-09"),
    ]),
    ("uni-scot", "ML10A", [
        scot(20, 10, title="Machine Learning",
             subjects=_subjects(("100992", 100)), isced_f="0613",
             outcomes=["Derive and implement core supervised learning algorithms.",
                       "Evaluate models with appropriate metrics and validation.",
                       "Apply unsupervised learning to exploratory problems."],
             assessment="Coursework (50%) and a written exam (50%)",
             participation="on-site", effective_from="2024-09-09"),
    ]),
    ("uni-scot", "HC10A", [
        scot(20, 10, title="Human-Computer Interaction",
             subjects=_subjects(("100736", 100)), isced_f="0613",
             outcomes=["Apply user-centred design methods to an interactive system.",
                       "Plan and run a usability evaluation.",
                       "Design for accessibility following WCAG."],
             assessment="Design project (70%) and a written exam (30%)",
             participation="on-site", effective_from="2024-09-09"),
    ]),
    ("uni-scot", "DS11A", [
        scot(15, 11, title="Data Science Foundations",
             subjects=_subjects(("100366", 100)), isced_f="0613",
             outcomes=["Wrangle and explore real-world data sets in Python.",
                       "Apply statistical inference and basic predictive modelling.",
                       "Communicate analytical results reproducibly."],
             assessment="Coursework portfolio (100%)",
             participation="online", micro_credential=True, effective_from="2024-01-08"),
    ]),
    ("uni-scot", "DS11B", [
        scot(15, 11, title="Cloud and Big Data Systems",
             subjects=_subjects(("100366", 60), ("100755", 40)), isced_f="0612",
             outcomes=["Design data pipelines on distributed processing frameworks.",
                       "Compare data lake and warehouse architectures.",
                       "Estimate the cost and carbon footprint of a cloud workload."],
             assessment="Group project (60%) and an individual report (40%)",
             participation="blended", effective_from="2024-09-09"),
    ]),
    ("uni-scot", "ED11A", [
        scot(20, 11, title="Digital Pedagogy",
             subjects=_subjects(("100459", 70), ("100372", 30)), isced_f="0111",
             outcomes=["Critically evaluate research on technology-enhanced learning.",
                       ("Design an online learning sequence using a virtual learning "
                        "environment."),
                       "Evaluate the accessibility of digital learning materials."],
             assessment="Online course design and critical commentary (100%)",
             participation="online", micro_credential=True, effective_from="2024-09-09"),
    ]),
    ("uni-scot", "BU11A", [
        scot(15, 11, title="Leadership and Change Management",
             subjects=_subjects(("100089", 100)), isced_f="0413",
             outcomes=["Critically compare theories of leadership.",
                       "Diagnose readiness for organisational change.",
                       "Design a change management plan for a real organisation."],
             assessment="Change management plan (100%)",
             participation="blended", effective_from="2024-09-09"),
    ]),
    # ---------------------------------------------------------------- uni-lowlands (EQF)
    ("uni-lowlands", "INF101", [
        lowlands(5, 6, title="Introduction to Programming",
                 subjects=_subjects(("100366", 100)), isced_f="0613",
                 outcomes=["Write, test and debug small programs in Python.",
                           "Apply basic algorithms for searching and sorting."],
                 assessment="Practical programming exam", participation="on-site",
                 effective_from="2024-09-02"),
    ]),
    ("uni-lowlands", "AD-ICT01", [
        lowlands(5, 5, title="IT Service Management",
                 subjects=_subjects(("100367", 100)), isced_f="0619",
                 outcomes=["Describe the service value chain of ITIL 4.",
                           "Handle incidents and changes following a defined process.",
                           "Report service levels to a customer."],
                 assessment="Case assignment and a multiple-choice exam",
                 participation="blended", effective_from="2024-09-02",
                 # R-LV-3: EQF 5 maps to FHEQ 4 or 5; this associate-degree course says 5.
                 equivalent_levels=[("FHEQ", 5)]),
    ]),
    ("uni-lowlands", "AD-BUS01", [
        lowlands(5, 5, title="Fundamentals of Accounting",
                 subjects=_subjects(("100105", 100)), isced_f="0411",
                 outcomes=["Record transactions using double-entry bookkeeping.",
                           "Prepare a balance sheet and an income statement.",
                           "Interpret basic financial ratios."],
                 assessment="Written exam", participation="on-site",
                 effective_from="2024-09-02", equivalent_levels=[("FHEQ", 4)]),
    ]),
    ("uni-lowlands", "BUS201", [
        lowlands(6, 6, title="International Business",
                 subjects=_subjects(("100080", 100)), isced_f="0413",
                 outcomes=["Analyse market-entry strategies for a foreign market.",
                           "Explain the role of culture in international management.",
                           "Assess trade and regulatory risks in the EU single market."],
                 assessment="Group market-entry report and an individual exam",
                 participation="on-site", effective_from="2024-09-02"),
    ]),
    ("uni-lowlands", "ECO201", [
        lowlands(6, 6, title="Behavioural Economics",
                 subjects=_subjects(("100450", 70), ("100497", 30)), isced_f="0311",
                 outcomes=["Explain heuristics and biases in economic decisions.",
                           "Design a simple choice-architecture intervention.",
                           "Evaluate experimental evidence in behavioural economics."],
                 assessment="Written exam and a short experiment report",
                 participation="on-site", effective_from="2024-09-02"),
    ]),
    ("uni-lowlands", "EDU201", [
        lowlands(5, 6, title="Educational Technology and Blended Learning",
                 subjects=_subjects(("100459", 100)), isced_f="0111",
                 outcomes=["Design a blended learning unit for a defined group.",
                           "Select educational technology using evidence of its effect."],
                 assessment="Design portfolio", participation="online",
                 micro_credential=True, effective_from="2024-09-02"),
    ]),
    # R-CAT-5: EU micro-credentials carrying every element of the 2022 Recommendation.
    ("uni-lowlands", "EMC-DV1", [
        lowlands(5, 7, title="Visual Analytics",
                 subjects=_subjects(("100366", 70), ("100406", 30)), isced_f="0613",
                 outcomes=["Choose visual encodings that fit the data and the task.",
                           "Build interactive visual analytics applications.",
                           "Evaluate a visualisation for truthfulness and accessibility."],
                 assessment="Project: an interactive visual analytics application, "
                            "assessed against a published rubric",
                 participation="online", eu_micro_credential=True,
                 effective_from="2024-09-02"),
    ]),
    ("uni-lowlands", "EMC-DV2", [
        lowlands(3, 7, title="Data Storytelling",
                 subjects=_subjects(("100366", 60), ("100440", 40)), isced_f="0613",
                 outcomes=["Structure a narrative around analytical findings.",
                           "Present data to decision makers in writing and orally."],
                 assessment="Recorded presentation and a written data story",
                 participation="online", eu_micro_credential=True,
                 effective_from="2024-09-02"),
    ]),
    ("uni-lowlands", "EMC-GAI", [
        # The R-CR-4 worked example: 6 ECTS stating 150 notional hours.
        lowlands(6, 6, title="Responsible Generative AI for Professionals",
                 subjects=_subjects(("100359", 70), ("100793", 30)), isced_f="0688",
                 outcomes=[("Explain how large language models are trained and where they "
                            "fail."),
                           ("Apply generative AI tools to professional tasks with human "
                            "oversight."),
                           "Assess a generative AI use case against the EU AI Act."],
                 assessment="Portfolio of three workplace cases and an online "
                            "identity-verified oral exam",
                 participation="blended", eu_micro_credential=True,
                 effective_from="2025-02-03"),
    ]),
    ("uni-lowlands", "EMC-CYB", [
        lowlands(5, 5, title="Cybersecurity Essentials for SMEs",
                 subjects=_subjects(("100376", 100)), isced_f="0612",
                 outcomes=["Identify the main cyber threats to small organisations.",
                           "Implement baseline controls from the NIS2 guidance.",
                           "Write an incident response plan."],
                 assessment="Online proctored exam and an incident response plan",
                 participation="online", eu_micro_credential=True,
                 effective_from="2025-02-03"),
    ]),
    ("uni-lowlands", "MSC-DS01", [
        lowlands(6, 7, title="Advanced Machine Learning",
                 subjects=_subjects(("100992", 100)), isced_f="0613",
                 outcomes=["Apply ensemble, kernel and deep learning methods.",
                           "Critically compare models using rigorous evaluation.",
                           "Deploy a model and discuss its limitations."],
                 assessment="Project and a written exam", participation="on-site",
                 effective_from="2024-09-02"),
    ]),
    ("uni-lowlands", "MSC-DS02", [
        lowlands(10, 7, title="Research Methods in Data Science",
                 subjects=_subjects(("100366", 50), ("100406", 50)), isced_f="0613",
                 outcomes=["Formulate a research question and design a study to answer it.",
                           "Apply quantitative and qualitative research methods.",
                           "Write a research proposal to academic standards."],
                 assessment="Research proposal", participation="on-site",
                 effective_from="2024-09-02"),
    ]),
    # ---------------------------------------------------------------- uni-valleys (FHEQ)
    ("uni-valleys", "BIT401", [
        valleys(20, 4, title="Introduction to Business Information Technology",
                subjects=_subjects(("100362", 100)), isced_f="0619",
                outcomes=[("Use office, collaboration and spreadsheet software "
                           "professionally."),
                          "Describe how information systems support business processes."],
                assessment="Practical portfolio (100%)", participation="on-site",
                effective_from="2024-09-16"),
    ]),
    ("uni-valleys", "BM402", [
        valleys(20, 4, title="Introduction to Management",
                subjects=_subjects(("100089", 100)), isced_f="0413",
                outcomes=["Explain the functions of management.",
                          "Analyse the structure of a local organisation."],
                assessment="Report (70%) and a presentation (30%)", participation="on-site",
                effective_from="2022-09-12"),
    ]),
    ("uni-valleys", "ED402", [
        valleys(20, 4, title="Foundations of Education Studies",
                subjects=_subjects(("100459", 100)), isced_f="0111",
                outcomes=["Discuss the purposes of education from different perspectives.",
                          "Describe the education system in Wales."],
                assessment="Essay (100%)", participation="on-site",
                effective_from="2024-09-16"),
    ]),
    ("uni-valleys", "ED503", [
        valleys(20, 5, title="Addysg Ddwyieithog (Bilingual Education)",
                subjects=_subjects(("100459", 70), ("100465", 30)), isced_f="0111",
                outcomes=["Gwerthuso modelau addysg ddwyieithog yng Nghymru.",
                          "Cynllunio gweithgareddau dysgu trwy gyfrwng y Gymraeg."],
                assessment="Portffolio (100%)", participation="blended", language="cy",
                effective_from="2024-09-16"),
    ]),
    ("uni-valleys", "CS501", [
        valleys(20, 5, title="Web Application Development",
                subjects=_subjects(("100374", 100)), isced_f="0613",
                outcomes=["Build a database-backed web application.",
                          "Secure a web application against the OWASP Top 10."],
                assessment="Web application project (100%)", participation="on-site",
                effective_from="2024-09-16"),
    ]),
    ("uni-valleys", "BM601", [
        valleys(20, 6, title="Entrepreneurship and Small Business",
                subjects=_subjects(("101221", 60), ("100079", 40)), isced_f="0413",
                outcomes=["Evaluate a business opportunity.",
                          "Write and pitch a business plan for a new venture."],
                assessment="Business plan (70%) and a pitch (30%)", participation="on-site",
                effective_from="2024-09-16"),
    ]),
    ("uni-valleys", "DA602", [
        valleys(10, 6, title="Data Analytics for Business",
                subjects=_subjects(("100360", 60), ("100406", 40)), isced_f="0688",
                outcomes=["Clean and analyse business data with spreadsheets and SQL.",
                          "Build a dashboard that answers a business question."],
                assessment="Dashboard and a short report (100%)", participation="online",
                micro_credential=True, effective_from="2024-09-16"),
    ]),
]


# --- equivalences (R-CAT-3): published by the RECEIVING member ---------------------------

def _eq(sources: list[tuple[str, str]], target: str, effective_from: str,
        effective_to: str | None = None) -> Body:
    return {"source": [{"institution_id": i, "code": c} for i, c in sources],
            "target_code": target, "effective_from": effective_from,
            "effective_to": effective_to}


# Each entry: (receiving institution id, equivalence id, body).
EQUIVALENCES: list[tuple[str, str, Body]] = [
    ("uni-north", "eq-scot-ds11a", _eq([("uni-scot", "DS11A")], "DS701", "2024-01-01")),
    # 2-to-1: uni-lowlands' two EU micro-credentials together equal our DS702.
    ("uni-north", "eq-lowlands-dataviz",
     _eq([("uni-lowlands", "EMC-DV1"), ("uni-lowlands", "EMC-DV2")], "DS702", "2024-09-01")),
    # Ended: uni-valleys revised its management curriculum in 2025.
    ("uni-north", "eq-valleys-bm402",
     _eq([("uni-valleys", "BM402")], "BM401", "2022-09-01", "2025-08-31")),
    ("uni-scot", "eq-north-cs401", _eq([("uni-north", "CS401")], "CS07A", "2024-09-01")),
    ("uni-scot", "eq-north-ds601", _eq([("uni-north", "DS601")], "ML10A", "2024-09-01")),
    ("uni-lowlands", "eq-scot-cs07a", _eq([("uni-scot", "CS07A")], "INF101", "2024-09-01")),
    ("uni-lowlands", "eq-north-ds720", _eq([("uni-north", "DS720")], "MSC-DS01", "2025-01-06")),
    ("uni-valleys", "eq-north-bm401", _eq([("uni-north", "BM401")], "BM402", "2022-09-01")),
]


# --- who gets a demo token ------------------------------------------------------------------

DEMO_PRINCIPALS: list[tuple[str, str, str]] = [
    ("admin", ADMIN_SUBJECT, "admin (consortium-admin)"),
    *[("institution", iid, f"institution {iid}") for iid in MEMBERS],
    *[("learner", lr["learner_id"], f"learner {lr['learner_id']} ({lr['home_member']})")
      for lr in LEARNERS],
]
